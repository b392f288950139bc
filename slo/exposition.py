"""Prometheus text exposition of the ledger, in blackbox_exporter's vocabulary. Pure.

* ``probe_success`` (1 passed, 0 failed or error; skipped probes are left out) and
  ``probe_duration_seconds`` per probe, from its last outcome;
* ``slo_events_total`` / ``slo_good_events_total``: all-time SLI event counters per SLO,
  environment, source, method and endpoint. They are cumulative because the ledger is:
  every push sends the running total, so ``rate()``/``increase()`` work across pushes;
* ``slo_objective_ratio`` per SLO, so dashboards can draw the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from slo.model import EventTotal, LastOutcome, Slo

EVENT_LABELS = ("slo", "environment", "source", "method", "endpoint")
PROBE_LABELS = ("environment", "target", "probe", "family", "endpoint", "method")


class _Snapshot(Collector):
    """A fixed set of metric families, collected once."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def expose(
    environment: str,
    counters: Iterable[EventTotal],
    outcomes: Iterable[LastOutcome],
    slos: Sequence[Slo],
) -> bytes:
    """The exposition text for one environment's Pushgateway group; the ledger's rows of
    other environments are ignored."""
    total = CounterMetricFamily(
        "slo_events", "SLI events counted by the SLO ledger (all time)", labels=EVENT_LABELS
    )
    good = CounterMetricFamily(
        "slo_good_events",
        "Good SLI events counted by the SLO ledger (all time)",
        labels=EVENT_LABELS,
    )
    for c in counters:
        if c.environment != environment:
            continue
        labels = [c.slo, c.environment, c.source, c.method or "", c.endpoint or ""]
        total.add_metric(labels, float(c.total))
        good.add_metric(labels, float(c.good))
    success = GaugeMetricFamily(
        "probe_success", "Whether the probe passed on its last run", labels=PROBE_LABELS
    )
    duration = GaugeMetricFamily(
        "probe_duration_seconds", "How long the probe took on its last run", labels=PROBE_LABELS
    )
    for o in outcomes:
        if o.environment != environment or o.outcome == "skipped":
            continue
        labels = [o.environment, o.target or "", o.probe, o.family or "", o.endpoint or "",
                  o.method or ""]  # fmt: skip
        success.add_metric(labels, 1.0 if o.outcome == "passed" else 0.0)
        duration.add_metric(labels, float(o.duration_s or 0.0))
    objective = GaugeMetricFamily(
        "slo_objective_ratio", "The SLO's objective (target ratio)", labels=["slo"]
    )
    for slo in slos:
        if slo.applies_to(environment):
            objective.add_metric([slo.name], slo.objective_ratio)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([total, good, success, duration, objective]))
    return generate_latest(registry)
