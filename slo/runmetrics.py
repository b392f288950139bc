"""A probe run as metrics, for two readers that do not scrape.

* ``slo metrics gitlab RESULTS --out metrics.txt``: GitLab's metrics report
  (``artifacts:reports:metrics``), from the last probe run in a results file: outcomes
  per family, requests answered/unanswered/5xx, the run's availability ratio and the
  p50/p95 latency per endpoint. GitLab compares the values as strings between a merge
  request and its target branch, so they are rounded to stay comparable.
* ``slo metrics textfile --out DIR/spacetime_probes.prom``: node_exporter's textfile collector, from
  the ledger: exactly what ``slo push`` sends to a Pushgateway (``probe_success``,
  ``probe_duration_seconds``, ``slo_events_total``...; :func:`slo.exposition.expose`),
  written atomically (temporary file and rename, as the collector's documentation
  asks) so a scrape never reads half a file.

The builders are pure; :func:`run` (``slo metrics``) is the shell.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from slo.runs import latest_run_id, run_records
from slo.runs import percentile as nearest_rank_value

OUTCOMES = ("passed", "failed", "skipped", "error")


class _Snapshot(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _last_run(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records of the latest probe run (:func:`slo.runs.latest_run_id`'s rule)."""
    records = list(records)
    latest = latest_run_id(records, "probe")
    return [] if latest is None else run_records(records, latest)


def gitlab_metrics(records: Iterable[Mapping[str, Any]]) -> str:
    """GitLab metrics report text for the last probe run in ``records``."""
    run = _last_run(records)
    samples = [r for r in run if r.get("kind") == "sample"]
    outcomes = [r for r in run if r.get("kind") == "outcome"]
    families: list[GaugeMetricFamily] = []

    per_outcome = Counter(str(o.get("outcome")) for o in outcomes)
    probes = GaugeMetricFamily(
        "spacetime_probes", "Probes of the run by outcome", labels=["outcome"]
    )
    for outcome in OUTCOMES:
        probes.add_metric([outcome], per_outcome.get(outcome, 0))
    families.append(probes)

    failing = GaugeMetricFamily(
        "spacetime_probes_failing", "Failed or errored probes per family", labels=["family"]
    )
    per_family = Counter(
        str(o.get("family")) for o in outcomes if o.get("outcome") in ("failed", "error")
    )
    for family in sorted({str(o.get("family")) for o in outcomes}):
        failing.add_metric([family], per_family.get(family, 0))
    families.append(failing)

    answered = [s for s in samples if isinstance(s.get("status"), int)]
    errors = [s for s in answered if s["status"] >= 500]
    requests = GaugeMetricFamily(
        "spacetime_probe_requests", "Requests the probes sent, by result", labels=["result"]
    )
    requests.add_metric(["total"], len(samples))
    requests.add_metric(["unanswered"], len(samples) - len(answered))
    requests.add_metric(["server_error"], len(errors))
    families.append(requests)
    if samples:
        availability = GaugeMetricFamily(
            "spacetime_probe_availability_ratio",
            "Answered and not 5xx over all requests, this run",
        )
        availability.add_metric([], round((len(answered) - len(errors)) / len(samples), 4))
        families.append(availability)

    latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
    for sample in answered:
        if isinstance(sample.get("latency_ms"), int | float):
            key = (str(sample.get("method")), str(sample.get("endpoint")))
            latencies[key].append(float(sample["latency_ms"]))
    for percentile in (50, 95):
        latency = GaugeMetricFamily(
            f"spacetime_probe_latency_p{percentile}_ms",
            f"Nearest-rank p{percentile} latency per endpoint, this run",
            labels=["method", "endpoint"],
        )
        for (method, endpoint), values in sorted(latencies.items()):
            latency.add_metric([method, endpoint], round(nearest_rank_value(values, percentile), 1))
        families.append(latency)

    ends = [r for r in run if r.get("kind") == "run" and r.get("phase") == "end"]
    starts = [r for r in run if r.get("kind") == "run" and r.get("phase") == "start"]
    if starts and ends:
        duration = GaugeMetricFamily(
            "spacetime_probe_run_duration_seconds", "Wall time of the probe run"
        )
        duration.add_metric([], round(float(ends[-1]["ts"]) - float(starts[0]["ts"]), 1))
        families.append(duration)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry).decode("utf-8")


def textfile(ledger_path: Path, environment: str | None, spec_path: Path | None) -> bytes:
    """What ``slo push`` would send for the environment, from the ledger."""
    from slo import spec as specs
    from slo.exposition import expose
    from slo.sources import pick_environment
    from slo.store import Ledger

    spec = specs.from_path(spec_path)
    with Ledger.open(ledger_path, create=False) as ledger:
        env = pick_environment(ledger, environment)
        return expose(env, ledger.cumulative(), ledger.last_outcomes(), spec.slos)


# ----------------------------------------------------------------------------- shell


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``slo metrics gitlab|textfile``: the arguments, added to ``slo``'s ``metrics`` parser."""
    import os

    sub = parser.add_subparsers(dest="metrics_command", required=True, metavar="{gitlab,textfile}")
    p = sub.add_parser(
        "gitlab",
        help="GitLab metrics report from a results file",
        description="GitLab's metrics report (artifacts:reports:metrics) from the last probe "
        "run in a results file.",
    )
    p.add_argument("results", type=Path)
    p.add_argument("--out", type=Path, default=Path("reports/metrics.txt"))
    p = sub.add_parser(
        "textfile",
        help="node_exporter textfile from the SLO ledger",
        description="node_exporter's textfile collector from the SLO ledger: what `slo push` "
        "sends, written atomically.",
    )
    p.add_argument(
        "--ledger",
        type=Path,
        default=Path(os.environ.get("SLO_LEDGER", "reports/slo-ledger.sqlite")),
    )
    p.add_argument("--environment")
    p.add_argument("--spec", type=Path)
    p.add_argument("--out", type=Path, required=True, help="e.g. DIR/spacetime_probes.prom")


def run(args: argparse.Namespace) -> int:
    """``slo metrics``: raises :class:`slo.errors.SloError`, which ``slo`` reports."""
    from slo.files import read_json_lines, write_atomic

    if args.metrics_command == "gitlab":
        records = read_json_lines(args.results)
        write_atomic(args.out, gitlab_metrics(records))
    else:
        write_atomic(args.out, textfile(args.ledger, args.environment, args.spec))
    print(f"slo: metrics: wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m slo.runmetrics ...``: an alias of ``slo metrics ...``."""
    from slo.cli import main as slo_main

    return slo_main(["metrics", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
