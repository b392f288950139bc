"""Runs in a set of results records, and the one nearest-rank percentile.

Pure: records in (the raw JSON objects of docs/results-format.md, or the typed records of
:mod:`slo.records`), run ids and numbers out. Every reader that needs "the latest run"
of a results file, or a percentile of observed values, asks here.

The latest run of a source is the one whose ``run`` start record has the greatest
``ts``; a run without a start record (its first lines were lost) is placed by the ``ts``
of its first record that has one; ties go to the run that appears later in the records
(file order, later wins). A run without an end record was killed and still counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from slo.records import Record

RecordLike = Mapping[str, Any] | Record
R = TypeVar("R", bound=RecordLike)


def _fields(record: RecordLike) -> tuple[object, object, object, object, object]:
    """``(run_id, source, kind, phase, ts)`` of a raw or a typed record."""
    if isinstance(record, Mapping):
        source = record.get("source")
        return (
            record.get("run_id"),
            "probe" if source is None else source,  # older probe files carry no source
            record.get("kind"),
            record.get("phase"),
            record.get("ts"),
        )
    header = record.header
    return header.run_id, header.source, header.kind, getattr(record, "phase", None), record.ts


def _time(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def run_order(records: Iterable[RecordLike], source: str = "probe") -> list[str]:
    """The run ids of ``source`` in ``records``, oldest first by the rule above."""
    position: dict[str, int] = {}
    started: dict[str, float] = {}
    first_ts: dict[str, float] = {}
    for record in records:
        run_id, record_source, kind, phase, ts = _fields(record)
        if not isinstance(run_id, str) or record_source != source:
            continue
        position.setdefault(run_id, len(position))
        when = _time(ts)
        if when is None:
            continue
        if kind == "run" and phase == "start" and run_id not in started:
            started[run_id] = when
        first_ts.setdefault(run_id, when)

    def key(run_id: str) -> tuple[float, int]:
        when = started.get(run_id, first_ts.get(run_id, -math.inf))
        return (when, position[run_id])

    return sorted(position, key=key)


def latest_run_id(records: Iterable[RecordLike], source: str = "probe") -> str | None:
    """The id of the latest run of ``source`` in ``records``; None when there is none."""
    order = run_order(records, source)
    return order[-1] if order else None


def run_records(records: Iterable[R], run_id: str) -> list[R]:
    """The records of one run, in their order."""
    return [r for r in records if _fields(r)[0] == run_id]


def nearest_rank(count: int, percentile: float) -> int:
    """1-based nearest rank of the p-th percentile among ``count`` values: the smallest
    rank with at least ``percentile`` % of the values at or below it (1 when empty)."""
    return max(1, math.ceil(percentile / 100 * count))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: an observed value, never an interpolation between two
    (``q`` <= 0 gives the least value, ``q`` >= 100 the greatest)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    return ordered[min(nearest_rank(len(ordered), q), len(ordered)) - 1]


def hdr_rank(count: int, percentile: float) -> int:
    """1-based rank HdrHistogram reads the p-th percentile at (``round(p/100 * n)``).

    Not the nearest rank: the load verdict counts with it so that it agrees with the
    HdrHistogram figure it quotes (docs/loadtests.md).
    """
    return max(1, int(percentile * count / 100.0 + 0.5))
