"""SLO specs: the native format and OpenSLO v1 ``kind: SLO`` documents.

Layered loading (``from_path -> from_str -> from_dict``/``from_documents``): only
``from_path`` touches the disk; everything below it is pure and validated once. Every
problem raises :class:`SloError` naming the file, the field path and what was expected.

Native format (see ``slo/specs/spacetime.yaml``)::

    apiVersion: spacetime-probes/slo/v1
    slos:
      - {name: availability, sli: availability, objective: 99.9%, window: 28d}
      - {name: latency, sli: latency, threshold_ms: 200, objective: 95%, window: 28d}
    policy: {alerts: [...], burn_windows: [...], exhaustion_window: 1h}
    gate: {freeze_severities: [page], on_no_data: error, min_history: 3d, min_runs: 12}

OpenSLO: a YAML stream of ``apiVersion: openslo/v1`` documents; ``kind: SLO`` with a
``ratioMetric`` indicator (inline or ``indicatorRef`` to a ``kind: SLI``) whose metric
sources are ``type: spacetime-probes`` with ``spec.events`` one of ``requests``,
``answered``, ``not_server_error``, ``within_threshold`` (+ ``threshold_ms``). Other
kinds (Service, AlertPolicy...) are accepted and ignored.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from slo.durations import format_duration, parse_duration
from slo.errors import SloError
from slo.model import (
    BUCKET_SECONDS,
    AlertWindow,
    Budgeting,
    GatePolicy,
    Policy,
    SliKind,
    Slo,
    Spec,
)
from slo.policy import DEFAULT_POLICY, NO_DATA_ACTIONS

NATIVE_API = "spacetime-probes/slo/v1"
OPENSLO_API = "openslo/v1"
SOURCES = ("probe", "load")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")
ANNOTATION = "spacetime-probes/"
EVENTS = ("requests", "answered", "not_server_error", "within_threshold")


def default_spec_path() -> Path:
    """The packaged SpaceTime SLOs (contract.md): availability 99.9%, latency 200 ms 95%."""
    return Path(__file__).resolve().parent / "specs" / "spacetime.yaml"


class _Reader:
    """Typed field access that turns a bad value into ``file: field: expected``."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, expected: str) -> SloError:
        return SloError(self.origin, where, expected)

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {_kind(value)}")
        return value

    def required(self, data: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in data or data[key] is None:
            raise self.fail(_join(where, key), "required field is missing")
        return data[key]

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {_kind(value)}")
        return value.strip()

    def name(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        if not _NAME.match(text):
            raise self.fail(
                where, f"expected a lower-case name of letters, digits, '-', '_', '.', got {text!r}"
            )
        return text

    def boolean(self, value: Any, where: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(where, f"expected true or false, got {value!r}")

    def number(
        self, value: Any, where: str, *, low: float, high: float | None = None, what: str = ""
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(where, f"expected a number{what}, got {_kind(value)}")
        try:
            number = float(value)
        except ValueError:
            raise self.fail(where, f"expected a number{what}, got {value!r}") from None
        if number != number or number < low or (high is not None and number > high):
            bound = f" between {low:g} and {high:g}" if high is not None else f" >= {low:g}"
            raise self.fail(where, f"expected a number{bound}{what}, got {value!r}")
        return number

    def integer(self, value: Any, where: str, *, low: int) -> int:
        number = self.number(value, where, low=low)
        if number != int(number):
            raise self.fail(where, f"expected a whole number >= {low}, got {value!r}")
        return int(number)

    def duration(self, value: Any, where: str) -> int:
        if not isinstance(value, str):
            raise self.fail(where, f"expected a duration like 5m, 1h or 28d, got {value!r}")
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(where, f"expected {exc}") from None

    def ratio(self, value: Any, where: str) -> float:
        """An objective: ``0.999`` or ``"99.9%"``, strictly between 0 and 1."""
        expected = "expected a ratio in (0, 1) like 0.999 or a percentage like '99.9%'"
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                number = float(Decimal(value.strip()[:-1]) / 100)
            except (ArithmeticError, ValueError):
                raise self.fail(where, f"{expected}, got {value!r}") from None
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            raise self.fail(where, f"{expected}, got {value!r}")
        if not 0.0 < number < 1.0:
            raise self.fail(where, f"{expected}, got {value!r}")
        return number

    def string_list(self, value: Any, where: str, choices: Sequence[str] | None = None) -> tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise self.fail(where, f"expected a list of strings, got {_kind(value)}")
        out = []
        for i, item in enumerate(items):
            text = self.string(item, f"{where}[{i}]")
            if choices is not None and text not in choices:
                raise self.fail(
                    f"{where}[{i}]", f"expected one of {', '.join(choices)}, got {text!r}"
                )
            out.append(text)
        return tuple(out)

    def known_keys(self, data: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    _join(where, str(key)), f"unknown field; expected one of {', '.join(allowed)}"
                )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# --------------------------------------------------------------------------- policy


def policy_from_dict(data: Mapping[str, Any] | None, origin: str, where: str = "policy") -> Policy:
    """Read ``{alerts, burn_windows, exhaustion_window, wilson_z}``; defaults for the rest."""
    r = _Reader(origin)
    if data is None:
        return DEFAULT_POLICY
    data = r.mapping(data, where)
    r.known_keys(data, where, ("alerts", "burn_windows", "exhaustion_window", "wilson_z", "gate"))
    alerts = DEFAULT_POLICY.alerts
    if data.get("alerts") is not None:
        items = data["alerts"]
        if not isinstance(items, list) or not items:
            raise r.fail(f"{where}.alerts", "expected a non-empty list of alert windows")
        parsed = []
        for i, item in enumerate(items):
            at = f"{where}.alerts[{i}]"
            item = r.mapping(item, at)
            r.known_keys(item, at, ("severity", "budget_fraction", "long_window", "short_window"))
            long_s = r.duration(r.required(item, "long_window", at), f"{at}.long_window")
            short_s = r.duration(r.required(item, "short_window", at), f"{at}.short_window")
            if short_s >= long_s:
                raise r.fail(f"{at}.short_window", "expected a window shorter than long_window")
            if short_s % BUCKET_SECONDS:
                raise r.fail(f"{at}.short_window", "expected a whole number of minutes")
            parsed.append(
                AlertWindow(
                    severity=r.name(r.required(item, "severity", at), f"{at}.severity"),
                    budget_fraction=r.number(
                        r.required(item, "budget_fraction", at),
                        f"{at}.budget_fraction",
                        low=1e-9,
                        high=1.0,
                        what=" (fraction of the budget, e.g. 0.02)",
                    ),
                    long_window_seconds=long_s,
                    short_window_seconds=short_s,
                )
            )
        alerts = tuple(parsed)
    burn_windows = DEFAULT_POLICY.burn_windows_seconds
    if data.get("burn_windows") is not None:
        items = data["burn_windows"]
        if not isinstance(items, list) or not items:
            raise r.fail(f"{where}.burn_windows", "expected a non-empty list of durations")
        burn_windows = tuple(
            sorted({r.duration(w, f"{where}.burn_windows[{i}]") for i, w in enumerate(items)})
        )
    exhaustion = DEFAULT_POLICY.exhaustion_window_seconds
    if data.get("exhaustion_window") is not None:
        exhaustion = r.duration(data["exhaustion_window"], f"{where}.exhaustion_window")
    z = DEFAULT_POLICY.wilson_z
    if data.get("wilson_z") is not None:
        z = r.number(data["wilson_z"], f"{where}.wilson_z", low=0.1, high=10)
    gate = gate_from_dict(data.get("gate"), origin, f"{where}.gate")
    return Policy(alerts, burn_windows, exhaustion, z, gate)


def gate_from_dict(data: Mapping[str, Any] | None, origin: str, where: str = "gate") -> GatePolicy:
    r = _Reader(origin)
    if data is None:
        return GatePolicy()
    data = r.mapping(data, where)
    fields = (
        "freeze_severities",
        "freeze_on_exhausted",
        "min_remaining_ratio",
        "on_no_data",
        "endpoints",
        "slos",
        "min_history",
        "min_runs",
    )
    r.known_keys(data, where, fields)
    gate = GatePolicy()
    on_no_data = data.get("on_no_data", gate.on_no_data)
    if on_no_data not in NO_DATA_ACTIONS:
        raise r.fail(
            f"{where}.on_no_data",
            f"expected one of {', '.join(NO_DATA_ACTIONS)}, got {on_no_data!r}",
        )
    return GatePolicy(
        freeze_severities=r.string_list(
            data.get("freeze_severities", list(gate.freeze_severities)),
            f"{where}.freeze_severities",
        ),
        freeze_on_exhausted=r.boolean(
            data.get("freeze_on_exhausted", True), f"{where}.freeze_on_exhausted"
        ),
        min_remaining_ratio=r.number(
            data.get("min_remaining_ratio", 0.0), f"{where}.min_remaining_ratio", low=0, high=1
        ),
        on_no_data=on_no_data,
        endpoints=r.boolean(data.get("endpoints", False), f"{where}.endpoints"),
        slos=r.string_list(data.get("slos", []), f"{where}.slos"),
        min_history_seconds=_min_history(r, data.get("min_history"), f"{where}.min_history"),
        min_runs=(
            None
            if data.get("min_runs") is None
            else r.integer(data["min_runs"], f"{where}.min_runs", low=0)
        ),
    )


def _min_history(r: _Reader, value: Any, where: str) -> int | None:
    """``gate.min_history``: a duration, 0 for no span, or absent to derive it."""
    if value is None:
        return None
    if not isinstance(value, bool) and value in (0, "0"):
        return 0
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return parse_duration(value)
    raise r.fail(where, f"expected a duration like 3d, or 0 for none, got {value!r}")


def policy_from_path(path: Path) -> Policy:
    """A standalone policy file: ``{policy: {...}, gate: {...}}`` or the policy keys at top."""
    data = _load_yaml(path)[0]
    origin = str(path)
    r = _Reader(origin)
    data = r.mapping(data, "(document)")
    if "policy" in data or "gate" in data:
        r.known_keys(data, "", ("policy", "gate", "apiVersion", "kind"))
        policy = policy_from_dict(data.get("policy") or {}, origin)
        if data.get("gate") is not None:
            policy = _with_gate(policy, gate_from_dict(data["gate"], origin))
        return policy
    return policy_from_dict(data, origin, "")


def _with_gate(policy: Policy, gate: GatePolicy) -> Policy:
    return Policy(
        policy.alerts,
        policy.burn_windows_seconds,
        policy.exhaustion_window_seconds,
        policy.wilson_z,
        gate,
    )


def with_policy(spec: Spec, policy: Policy) -> Spec:
    return Spec(spec.slos, policy, spec.origin)


# --------------------------------------------------------------------------- native


def _native_slo(r: _Reader, item: Any, where: str, defaults: Mapping[str, Any]) -> Slo:
    item = r.mapping(item, where)
    allowed = (
        "name",
        "description",
        "service",
        "sli",
        "objective",
        "window",
        "threshold_ms",
        "per_endpoint",
        "environments",
        "sources",
        "min_events",
        "budgeting",
        "timeslice_window",
        "timeslice_target",
    )
    r.known_keys(item, where, allowed)
    merged = {**defaults, **item}
    name = r.name(r.required(merged, "name", where), f"{where}.name")
    sli_text = r.string(r.required(merged, "sli", where), f"{where}.sli")
    if sli_text not in (k.value for k in SliKind):
        raise r.fail(f"{where}.sli", f"expected availability or latency, got {sli_text!r}")
    sli = SliKind(sli_text)
    threshold = None
    if sli is SliKind.LATENCY:
        threshold = r.number(
            r.required(merged, "threshold_ms", where), f"{where}.threshold_ms", low=0.001
        )
    elif merged.get("threshold_ms") is not None:
        raise r.fail(f"{where}.threshold_ms", "expected only on a latency SLO")
    budgeting_text = merged.get("budgeting", Budgeting.OCCURRENCES.value)
    if budgeting_text not in (b.value for b in Budgeting):
        raise r.fail(
            f"{where}.budgeting", f"expected Occurrences or Timeslices, got {budgeting_text!r}"
        )
    slice_s = slice_target = None
    if budgeting_text == Budgeting.TIMESLICES.value:
        slice_s = r.duration(
            r.required(merged, "timeslice_window", where), f"{where}.timeslice_window"
        )
        slice_target = r.ratio(
            r.required(merged, "timeslice_target", where), f"{where}.timeslice_target"
        )
    return _checked_slo(
        r,
        where,
        Slo(
            name=name,
            sli=sli,
            objective_ratio=r.ratio(r.required(merged, "objective", where), f"{where}.objective"),
            period_seconds=r.duration(r.required(merged, "window", where), f"{where}.window"),
            threshold_ms=threshold,
            per_endpoint=r.boolean(merged.get("per_endpoint", True), f"{where}.per_endpoint"),
            environments=r.string_list(merged.get("environments", []), f"{where}.environments"),
            sources=r.string_list(merged.get("sources", ["probe"]), f"{where}.sources", SOURCES),
            min_events=r.integer(merged.get("min_events", 100), f"{where}.min_events", low=1),
            budgeting=Budgeting(budgeting_text),
            timeslice_seconds=slice_s,
            timeslice_target_ratio=slice_target,
            description=str(merged.get("description") or ""),
            service=str(merged.get("service") or "spacetime-httpapi"),
        ),
    )


def _checked_slo(r: _Reader, where: str, slo: Slo) -> Slo:
    """Cross-field rules that hold for both formats."""
    if slo.period_seconds % BUCKET_SECONDS:
        raise r.fail(f"{where}.window", "expected a whole number of minutes")
    if "load" in slo.sources and (not slo.environments or "production" in slo.environments):
        raise r.fail(
            f"{where}.sources",
            "expected 'load' only with environments listed and production not among them "
            "(load traffic never counts against a production SLO)",
        )
    if slo.timeslice_seconds is not None and (
        slo.timeslice_seconds % BUCKET_SECONDS or slo.timeslice_seconds > slo.period_seconds
    ):
        raise r.fail(
            f"{where}.timeslice_window",
            f"expected whole minutes, at most the window ({format_duration(slo.period_seconds)})",
        )
    return slo


def from_dict(data: Any, origin: str = "<spec>") -> Spec:
    """Validate a native spec document."""
    r = _Reader(origin)
    data = r.mapping(data, "(document)")
    r.known_keys(data, "", ("apiVersion", "kind", "service", "defaults", "slos", "policy", "gate"))
    api = data.get("apiVersion", NATIVE_API)
    if api != NATIVE_API:
        raise r.fail("apiVersion", f"expected {NATIVE_API} or {OPENSLO_API}, got {api!r}")
    defaults = dict(r.mapping(data.get("defaults") or {}, "defaults"))
    if data.get("service"):
        defaults.setdefault("service", data["service"])
    items = r.required(data, "slos", "")
    if not isinstance(items, list) or not items:
        raise r.fail("slos", "expected a non-empty list of SLOs")
    slos = tuple(_native_slo(r, item, f"slos[{i}]", defaults) for i, item in enumerate(items))
    _unique(r, slos, "slos")
    policy = policy_from_dict(data.get("policy"), origin)
    if data.get("gate") is not None:
        policy = _with_gate(policy, gate_from_dict(data["gate"], origin))
    return Spec(slos, policy, origin)


def _unique(r: _Reader, slos: Sequence[Slo], where: str) -> None:
    seen: set[str] = set()
    for i, slo in enumerate(slos):
        if slo.name in seen:
            raise r.fail(f"{where}[{i}].name", f"expected unique SLO names, {slo.name!r} repeats")
        seen.add(slo.name)


# --------------------------------------------------------------------------- OpenSLO


def _metric_event(r: _Reader, part: Any, where: str) -> tuple[str, float | None]:
    part = r.mapping(part, where)
    source = r.mapping(r.required(part, "metricSource", where), f"{where}.metricSource")
    kind = source.get("type")
    if kind != "spacetime-probes":
        raise r.fail(f"{where}.metricSource.type", f"expected spacetime-probes, got {kind!r}")
    spec = r.mapping(
        r.required(source, "spec", f"{where}.metricSource"), f"{where}.metricSource.spec"
    )
    event = spec.get("events")
    if event not in EVENTS:
        raise r.fail(
            f"{where}.metricSource.spec.events",
            f"expected one of {', '.join(EVENTS)}, got {event!r}",
        )
    threshold = None
    if event == "within_threshold":
        threshold = r.number(
            r.required(spec, "threshold_ms", f"{where}.metricSource.spec"),
            f"{where}.metricSource.spec.threshold_ms",
            low=0.001,
        )
    return event, threshold


def _openslo_indicator(r: _Reader, indicator: Any, where: str) -> tuple[SliKind, float | None]:
    indicator = r.mapping(indicator, where)
    spec = r.mapping(r.required(indicator, "spec", where), f"{where}.spec")
    if "thresholdMetric" in spec:
        raise r.fail(
            f"{where}.spec.thresholdMetric",
            "expected a ratioMetric (threshold SLIs are not supported)",
        )
    ratio = r.mapping(r.required(spec, "ratioMetric", f"{where}.spec"), f"{where}.spec.ratioMetric")
    at = f"{where}.spec.ratioMetric"
    if "bad" in ratio:
        raise r.fail(f"{at}.bad", "expected good and total (bad/total ratios are not supported)")
    good, threshold = _metric_event(r, r.required(ratio, "good", at), f"{at}.good")
    total, _ = _metric_event(r, r.required(ratio, "total", at), f"{at}.total")
    if (good, total) == ("not_server_error", "requests"):
        return SliKind.AVAILABILITY, None
    if (good, total) == ("within_threshold", "answered"):
        return SliKind.LATENCY, threshold
    raise r.fail(
        at,
        "expected good/total events not_server_error/requests (availability) or "
        f"within_threshold/answered (latency), got {good}/{total}",
    )


def _openslo_slos(
    r: _Reader, doc: Mapping[str, Any], where: str, indicators: Mapping[str, Any]
) -> list[Slo]:
    meta = r.mapping(r.required(doc, "metadata", where), f"{where}.metadata")
    name = r.name(r.required(meta, "name", f"{where}.metadata"), f"{where}.metadata.name")
    notes = r.mapping(meta.get("annotations") or {}, f"{where}.metadata.annotations")
    spec = r.mapping(r.required(doc, "spec", where), f"{where}.spec")
    at = f"{where}.spec"
    if "indicator" in spec:
        sli, threshold = _openslo_indicator(r, spec["indicator"], f"{at}.indicator")
    else:
        ref = r.string(r.required(spec, "indicatorRef", at), f"{at}.indicatorRef")
        if ref not in indicators:
            raise r.fail(
                f"{at}.indicatorRef", f"expected the name of a kind: SLI document, got {ref!r}"
            )
        sli, threshold = indicators[ref]
    windows = r.required(spec, "timeWindow", at)
    if not isinstance(windows, list) or len(windows) != 1:
        raise r.fail(f"{at}.timeWindow", "expected a list of exactly one window")
    window = r.mapping(windows[0], f"{at}.timeWindow[0]")
    if not r.boolean(window.get("isRolling", False), f"{at}.timeWindow[0].isRolling"):
        raise r.fail(
            f"{at}.timeWindow[0].isRolling", "expected true (calendar windows are not supported)"
        )
    period = r.duration(
        r.required(window, "duration", f"{at}.timeWindow[0]"), f"{at}.timeWindow[0].duration"
    )
    method = r.required(spec, "budgetingMethod", at)
    if method not in (b.value for b in Budgeting):
        raise r.fail(f"{at}.budgetingMethod", f"expected Occurrences or Timeslices, got {method!r}")
    objectives = r.required(spec, "objectives", at)
    if not isinstance(objectives, list) or not objectives:
        raise r.fail(f"{at}.objectives", "expected a non-empty list of objectives")
    ann = {k[len(ANNOTATION) :]: v for k, v in notes.items() if str(k).startswith(ANNOTATION)}
    ann_at = f"{where}.metadata.annotations.{ANNOTATION}"
    slos = []
    for i, objective in enumerate(objectives):
        o_at = f"{at}.objectives[{i}]"
        objective = r.mapping(objective, o_at)
        if "target" in objective:
            target = r.ratio(objective["target"], f"{o_at}.target")
        elif "targetPercent" in objective:
            target = r.ratio(f"{objective['targetPercent']}%", f"{o_at}.targetPercent")
        else:
            raise r.fail(f"{o_at}.target", "required field is missing")
        slice_s = slice_target = None
        if method == Budgeting.TIMESLICES.value:
            slice_s = r.duration(
                r.required(objective, "timeSliceWindow", o_at), f"{o_at}.timeSliceWindow"
            )
            slice_target = r.ratio(
                r.required(objective, "timeSliceTarget", o_at), f"{o_at}.timeSliceTarget"
            )
        suffix = ""
        if len(objectives) > 1:
            label = objective.get("displayName") or str(i)
            suffix = "-" + re.sub(r"[^a-z0-9]+", "-", str(label).lower()).strip("-")
        slo = Slo(
            name=name + suffix,
            sli=sli,
            objective_ratio=target,
            period_seconds=period,
            threshold_ms=threshold,
            per_endpoint=r.boolean(ann.get("per-endpoint", "true"), f"{ann_at}per-endpoint"),
            environments=r.string_list(ann.get("environments", []), f"{ann_at}environments"),
            sources=r.string_list(ann.get("sources", ["probe"]), f"{ann_at}sources", SOURCES),
            min_events=r.integer(ann.get("min-events", 100), f"{ann_at}min-events", low=1),
            budgeting=Budgeting(method),
            timeslice_seconds=slice_s,
            timeslice_target_ratio=slice_target,
            description=str(spec.get("description") or meta.get("displayName") or ""),
            service=str(spec.get("service") or "spacetime-httpapi"),
        )
        slos.append(_checked_slo(r, o_at, slo))
    return slos


def from_documents(
    docs: Sequence[Any], origin: str = "<spec>", policy: Policy | None = None
) -> Spec:
    """Validate an OpenSLO v1 document stream (``kind: SLO`` and ``kind: SLI``)."""
    r = _Reader(origin)
    indicators: dict[str, Any] = {}
    for i, doc in enumerate(docs):
        doc = r.mapping(doc, f"documents[{i}]")
        if doc.get("apiVersion") != OPENSLO_API:
            raise r.fail(
                f"documents[{i}].apiVersion",
                f"expected {OPENSLO_API}, got {doc.get('apiVersion')!r}",
            )
        if doc.get("kind") == "SLI":
            meta = r.mapping(
                r.required(doc, "metadata", f"documents[{i}]"), f"documents[{i}].metadata"
            )
            ref = r.name(
                r.required(meta, "name", f"documents[{i}].metadata"),
                f"documents[{i}].metadata.name",
            )
            indicators[ref] = _openslo_indicator(r, doc, f"documents[{i}]")
    slos: list[Slo] = []
    for i, doc in enumerate(docs):
        if doc.get("kind") == "SLO":
            slos.extend(_openslo_slos(r, doc, f"documents[{i}]", indicators))
    if not slos:
        raise r.fail("documents", "expected at least one kind: SLO document")
    _unique(r, slos, "documents")
    return Spec(tuple(slos), policy or DEFAULT_POLICY, origin)


# --------------------------------------------------------------------------- entry points


def from_str(text: str, origin: str = "<spec>") -> Spec:
    """Parse YAML text (one native document, or an OpenSLO stream) and validate it."""
    docs = _parse_yaml(text, origin)
    if not docs:
        raise SloError(origin, "(document)", "expected an SLO spec, the file is empty")
    first = docs[0]
    if isinstance(first, Mapping) and first.get("apiVersion") == OPENSLO_API:
        return from_documents(docs, origin)
    if len(docs) > 1:
        raise SloError(origin, "documents[1]", f"expected a single {NATIVE_API} document")
    return from_dict(first, origin)


def from_path(path: Path | str | None = None) -> Spec:
    """Load a spec file; ``None`` loads the packaged SpaceTime defaults."""
    path = Path(path) if path is not None else default_spec_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SloError(str(path), "(file)", "expected an existing SLO spec file") from None
    except UnicodeDecodeError:
        raise SloError(str(path), "(file)", "expected UTF-8 YAML text") from None
    except OSError as exc:
        raise SloError(str(path), "(file)", f"expected a readable file ({exc.strerror})") from None
    return from_str(text, str(path))


def _parse_yaml(text: str, origin: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(document)"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SloError(origin, where, f"expected valid YAML ({problem})") from None


def _load_yaml(path: Path) -> list[Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SloError(str(path), "(file)", "expected an existing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SloError(str(path), "(file)", f"expected a readable UTF-8 file ({exc})") from None
    docs = _parse_yaml(text, str(path))
    if not docs:
        raise SloError(str(path), "(document)", "expected a policy, the file is empty")
    return docs
