"""Results-file records (docs/results-format.md) as typed values, and their SLI events.

Pure: takes one line of text at a time. A line that is not a valid record is reported
with a short reason (the caller counts them); it never stops an ingest.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from slo.model import SliKind, Slo

SCHEMA = "spacetime-probes/results/1"
KINDS = ("run", "sample", "outcome", "aggregate")
SOURCES = ("probe", "load")
OUTCOMES = ("passed", "failed", "skipped", "error")


@dataclass(frozen=True, slots=True)
class Header:
    """The fields every record carries."""

    kind: str
    run_id: str
    seq: int
    source: str
    target: str
    environment: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    header: Header
    phase: str
    ts: float
    profile: str | None
    commit: str | None
    exit_status: int | None


@dataclass(frozen=True, slots=True)
class Sample:
    header: Header
    ts: float
    endpoint: str
    method: str
    status: int | None
    latency_ms: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    header: Header
    ts: float
    probe: str
    family: str
    endpoint: str | None
    method: str | None
    outcome: str
    duration_s: float
    reason: str | None
    measured: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Aggregate:
    header: Header
    ts: float
    bucket_s: float
    endpoint: str
    method: str
    stage_index: int | None
    users: float | None
    rate_per_s: float | None
    total: int
    answered: int
    server_errors: int
    rate_limited: int
    within_sla: int
    sla_ms: float
    hdr: str | None


Record = RunRecord | Sample | Outcome | Aggregate


class BadRecord(ValueError):
    """A line that is not a record of the format; the message says which field."""


def _field(data: dict[str, Any], key: str, kinds: type | tuple[type, ...], optional: bool = False):
    value = data.get(key)
    if value is None:
        if optional:
            return None
        raise BadRecord(f"{key}: missing")
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise BadRecord(f"{key}: expected {_names(kinds)}")
    if not isinstance(value, kinds):
        raise BadRecord(f"{key}: expected {_names(kinds)}")
    return value


def _names(kinds: type | tuple[type, ...]) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(k.__name__ for k in kinds)


def _count(data: dict[str, Any], key: str) -> int:
    value = _field(data, key, int)
    if value < 0:
        raise BadRecord(f"{key}: expected a count >= 0")
    return value


NUMBER = (int, float)

MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z: past it no datetime (or person) reads it


@dataclass(frozen=True, slots=True)
class _Constant:
    """A ``NaN``/``Infinity``/``-Infinity`` literal, which JSON does not have but Python's
    ``json`` reads by default (one in ``ts`` used to stop a whole ingest). Kept as a marker
    so the line is refused naming the field it was in."""

    name: str


def _constant_at(value: object, path: str) -> tuple[str, str] | None:
    """Where the first :class:`_Constant` is (``measured.p95``, ``stage.users``...)."""
    if isinstance(value, _Constant):
        return path, value.name
    if isinstance(value, dict):
        children = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_path, child in children:
        found = _constant_at(child, child_path)
        if found is not None:
            return found
    return None


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer literal too large for a float
        return math.inf


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _number(
    data: dict[str, Any], key: str, *, minimum: float | None = None, null: bool = False
) -> float:
    """A finite number (``1e400`` parses as infinity), and if given one >= ``minimum``."""
    value = _field(data, key, NUMBER)
    number = _as_float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        expected = f"a finite number{bound}{' or null' if null else ''}"
        raise BadRecord(f"{key}: expected {expected}, got {_shown(value)}")
    return number


def _number_or_none(
    data: dict[str, Any], key: str, *, minimum: float | None = None
) -> float | None:
    if data.get(key) is None:
        return None
    return _number(data, key, minimum=minimum, null=True)


def _ts(data: dict[str, Any]) -> float:
    """Epoch seconds a ledger can bucket: finite, from 1970 to 9999."""
    value = _field(data, "ts", NUMBER)
    number = _as_float(value)
    if not (math.isfinite(number) and 0.0 <= number <= MAX_TS):
        raise BadRecord(f"ts: expected epoch seconds from 0 to {MAX_TS:.0f}, got {_shown(value)}")
    return number


def parse_record(line: str) -> Record:
    """One JSON line to a record; raises :class:`BadRecord` with the offending field."""
    try:
        data = json.loads(line, parse_constant=_Constant)
    except (ValueError, RecursionError):
        raise BadRecord("not JSON") from None
    if "NaN" in line or "Infinity" in line:  # the walk only when a literal may be there
        found = _constant_at(data, "")
        if found is not None:
            raise BadRecord(f"{found[0] or '(line)'}: expected a JSON number, got {found[1]}")
    if not isinstance(data, dict):
        raise BadRecord("not a JSON object")
    if data.get("schema") != SCHEMA:
        raise BadRecord(f"schema: expected {SCHEMA}")
    kind = _field(data, "kind", str)
    if kind not in KINDS:
        raise BadRecord(f"kind: expected one of {', '.join(KINDS)}")
    source = _field(data, "source", str)
    if source not in SOURCES:
        raise BadRecord("source: expected probe or load")
    seq = _field(data, "seq", int)
    if seq < 0:
        raise BadRecord("seq: expected an integer >= 0")
    header = Header(
        kind=kind,
        run_id=_field(data, "run_id", str),
        seq=seq,
        source=source,
        target=_field(data, "target", str),
        environment=_field(data, "environment", str),
    )
    if kind == "sample":
        status = _field(data, "status", int, optional=True)
        return Sample(
            header,
            _ts(data),
            _field(data, "endpoint", str),
            _field(data, "method", str).upper(),
            status,
            _number_or_none(data, "latency_ms", minimum=0.0),
        )
    if kind == "outcome":
        outcome = _field(data, "outcome", str)
        if outcome not in OUTCOMES:
            raise BadRecord(f"outcome: expected one of {', '.join(OUTCOMES)}")
        method = _field(data, "method", str, optional=True)
        measured = data.get("measured")
        return Outcome(
            header,
            _ts(data),
            _field(data, "probe", str),
            _field(data, "family", str),
            _field(data, "endpoint", str, optional=True),
            method.upper() if method else None,
            outcome,
            _number(data, "duration_s", minimum=0.0),
            _field(data, "reason", str, optional=True),
            measured if isinstance(measured, dict) else None,
        )
    if kind == "aggregate":
        stage = data.get("stage")
        stage_index = users = rate = None
        if isinstance(stage, dict):
            stage_index = _field(stage, "index", int, optional=True)
            users = _number_or_none(stage, "users", minimum=0.0)
            rate = _number_or_none(stage, "rate_per_s", minimum=0.0)
        total, answered = _count(data, "total"), _count(data, "answered")
        server_errors, within = _count(data, "server_errors"), _count(data, "within_sla")
        limited = _count(data, "rate_limited")
        if not (answered <= total and max(server_errors, limited, within) <= answered):
            raise BadRecord(
                "counts: expected server_errors, rate_limited, within_sla <= answered <= total"
            )
        return Aggregate(
            header,
            _ts(data),
            _number(data, "bucket_s", minimum=0.0),
            _field(data, "endpoint", str),
            _field(data, "method", str).upper(),
            stage_index,
            users,
            rate,
            total,
            answered,
            server_errors,
            limited,
            within,
            _number(data, "sla_ms", minimum=0.0),
            _field(data, "hdr", str, optional=True),
        )
    phase = _field(data, "phase", str)
    if phase not in ("start", "end"):
        raise BadRecord("phase: expected start or end")
    return RunRecord(
        header,
        phase,
        _ts(data),
        _field(data, "profile", str, optional=True),
        _field(data, "commit", str, optional=True),
        _field(data, "exit_status", int, optional=True),
    )


def sample_events(sample: Sample, slo: Slo) -> tuple[float, float]:
    """``(good, total)`` one sample adds to ``slo`` (the results format's default SLIs).

    Availability counts every request and calls an answer below 500 good (a provoked 401
    or 429 is an answer, not an outage). Latency counts answered requests only.
    """
    answered = sample.status is not None
    if slo.sli is SliKind.AVAILABILITY:
        return (1.0 if answered and sample.status < 500 else 0.0, 1.0)  # type: ignore[operator]
    if not answered or sample.latency_ms is None:
        return (0.0, 0.0)
    return (1.0 if sample.latency_ms <= (slo.threshold_ms or 0.0) else 0.0, 1.0)


def aggregate_events(agg: Aggregate, slo: Slo) -> tuple[float, float]:
    """``(good, total)`` of one load aggregate for ``slo``.

    For a latency threshold other than the record's ``sla_ms`` the HdrHistogram decides;
    its share of values at or below the threshold is applied to ``answered`` (the
    histogram's own count includes coordinated-omission corrections).
    """
    if slo.sli is SliKind.AVAILABILITY:
        return (float(agg.answered - agg.server_errors), float(agg.total))
    threshold = slo.threshold_ms or 0.0
    if abs(threshold - agg.sla_ms) < 1e-9 or agg.answered == 0:
        return (float(agg.within_sla), float(agg.answered))
    if not agg.hdr:
        raise BadRecord(f"hdr: needed for a {threshold:g} ms threshold (sla_ms is {agg.sla_ms:g})")
    return (agg.answered * hdr_share_within(agg.hdr, threshold * 1000.0), float(agg.answered))


def hdr_share_within(encoded: str, limit_us: float) -> float:
    """Fraction of an encoded HdrHistogram's values at or below ``limit_us``.

    HdrHistogram cannot tell apart values in the bucket that holds the threshold (at 3
    significant digits, within 0.1% of it): they are taken as equal to it, hence within.
    """
    from hdrh.histogram import HdrHistogram

    try:
        histogram = HdrHistogram.decode(encoded)
    except Exception as exc:  # the library raises several types on corrupt input
        raise BadRecord(f"hdr: not a decodable HdrHistogram ({type(exc).__name__})") from None
    total = histogram.get_total_count()
    if total <= 0:
        return 0.0
    within = 0
    for item in histogram.get_recorded_iterator():
        if histogram.get_lowest_equivalent_value(item.value_iterated_to) <= limit_us:
            within += item.count_at_value_iterated_to
    return within / total
