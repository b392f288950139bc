"""Metrics: the Prometheus exposition parses, carries its families, and its numbers hold up.

One scrape is judged for form: Prometheus text (prometheus-client's parser),
the families the profile lists with their types, histograms with `le`
buckets that are cumulative and end in `+Inf` equal to `_count`. Then a
window: traffic, scrape, traffic, scrape. Between the two scrapes counters
only grow, and the request counter grows by at least what this probe sent
(a counter flushed on read, or frozen, fails here); the 5xx share and the
histogram's p95 over the window meet the profile's thresholds (seeds 002,
003, 004: 5xx > 5 % warning, > 10-15 % critical; p95 > 1 s). On a shared
target the window holds other clients' requests too, as an alert's would.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from probes import checks, exposition
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.plan import Cost, processes
from probes.profile import Metrics, fails_at
from probes.run import ProbeContext, Run

TEXT_TYPES = ("text/plain", "application/openmetrics-text")


def _metrics(run: Run) -> Metrics:
    if run.profile.metrics is None:  # the plugin skips the family at collection already
        pytest.skip("the profile names no metrics endpoint")
    return run.profile.metrics


def _scrape(client: ProbeClient, metrics: Metrics) -> tuple[Exchange, exposition.Scrape]:
    kwargs: dict[str, object] = {} if metrics.auth else {"authorization": None}
    exchange = client.request("GET", metrics.path, expect={200}, **kwargs)  # type: ignore[arg-type]
    what = f"GET {metrics.path}"
    checks.status_is(exchange, 200, what)
    content_type = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    if content_type not in TEXT_TYPES:
        raise ProbeFailure(
            f"{what}: Content-Type {content_type or 'missing'}, expected text/plain "
            "(Prometheus text format) or application/openmetrics-text",
            exchange=exchange,
        )
    try:
        scrape = exposition.parse(
            exchange.text, openmetrics=content_type == "application/openmetrics-text"
        )
    except exposition.ExpositionError as exc:
        raise ProbeFailure(f"{what}: {exc}", exchange=exchange) from None
    return exchange, scrape


def test_exposition_is_prometheus_text(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    metrics = _metrics(st_run)
    probe.about("GET", metrics.path)
    _, scrape = _scrape(st_client, metrics)
    probe.measured({"families": len(scrape.families)})


def test_required_families(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    metrics = _metrics(st_run)
    probe.about("GET", metrics.path)
    exchange, scrape = _scrape(st_client, metrics)
    wanted = [(family.name, family.type) for family in metrics.families]
    problems = exposition.missing_families(scrape, wanted)
    if problems:
        raise ProbeFailure(f"GET {metrics.path}: {'; '.join(problems)}", exchange=exchange)


def test_histograms_have_le_buckets(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    metrics = _metrics(st_run)
    probe.about("GET", metrics.path)
    exchange, scrape = _scrape(st_client, metrics)
    histograms = [family for family in scrape.families if family.type == "histogram"]
    listed = [family.name for family in metrics.families if family.type == "histogram"]
    if not histograms and not listed:
        pytest.skip("no histogram exposed or required")
    problems = [
        problem for family in histograms for problem in exposition.histogram_problems(family)
    ]
    probe.measured({"histograms": [family.name for family in histograms]})
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ProbeFailure(
            f"GET {metrics.path}: {'; '.join(problems[:3])}{more}", exchange=exchange
        )


@dataclass(frozen=True)
class Window:
    before: exposition.Scrape
    after: exposition.Scrape
    sent: int  # requests this probe sent between the two scrapes
    last: Exchange  # the second scrape, to reproduce


def _traffic(client: ProbeClient, run: Run, metrics: Metrics) -> int:
    """One request per GET endpoint of the profile (the scrape path aside), per round."""
    endpoints = [e for e in run.profile.endpoints if e.method == "GET" and e.path != metrics.path]
    for _ in range(metrics.traffic_rounds):
        for endpoint in endpoints:
            client.request("GET", endpoint.path, expect=set(range(200, 300)))
    return metrics.traffic_rounds * len(endpoints)


def _measure(client: ProbeClient, run: Run, metrics: Metrics) -> Window:
    _traffic(client, run, metrics)  # so the first scrape has counts to lose
    _, before = _scrape(client, metrics)
    sent = _traffic(client, run, metrics)
    last, after = _scrape(client, metrics)
    return Window(before, after, sent, last)


_WINDOWS: dict[str, Window | ProbeFailure] = {}


@pytest.fixture
def window(st_run: Run, st_client: ProbeClient) -> Window:
    """One window per run and process, measured inside the first probe that needs it
    (so its requests are that probe's samples); a failure to measure fails each of them."""
    if st_run.run_id not in _WINDOWS:
        try:
            _WINDOWS[st_run.run_id] = _measure(st_client, st_run, _metrics(st_run))
        except ProbeFailure as failure:
            _WINDOWS[st_run.run_id] = failure
    found = _WINDOWS[st_run.run_id]
    if isinstance(found, ProbeFailure):
        raise found
    return found


def test_counters_only_grow(st_run: Run, window: Window, probe: ProbeContext) -> None:
    metrics = _metrics(st_run)
    probe.about("GET", metrics.path)
    what = f"GET {metrics.path}, two scrapes"
    fallen = exposition.decreases(window.before, window.after)
    grown = None
    if metrics.requests_metric is not None:
        grown = exposition.counter_delta(window.before, window.after, metrics.requests_metric)
    probe.measured({"decreased_series": len(fallen), "requests_counted": grown,
                    "requests_sent": window.sent})  # fmt: skip
    if fallen:
        more = f" (+{len(fallen) - 3} more)" if len(fallen) > 3 else ""
        shown = "; ".join(d.describe() for d in fallen[:3])
        raise ProbeFailure(f"{what}: counters went down: {shown}{more}", exchange=window.last)
    if grown is not None and grown < window.sent:
        raise ProbeFailure(
            f"{what}: {metrics.requests_metric} grew by {grown:g} while this probe alone sent "
            f"{window.sent} requests between the scrapes",
            exchange=window.last,
            measured=grown,
            limit=window.sent,
        )


def test_error_ratio(st_run: Run, window: Window, probe: ProbeContext) -> None:
    metrics = _metrics(st_run)
    if metrics.requests_metric is None:
        pytest.skip("the profile names no requests_metric")
    probe.about("GET", metrics.path)
    what = f"GET {metrics.path}, two scrapes"
    ratio = exposition.error_ratio(
        window.before, window.after, metrics.requests_metric, metrics.status_label
    )
    value = ratio.value
    if value is None:
        raise ProbeFailure(
            f"{what}: {metrics.requests_metric} counted no requests between the scrapes "
            f"(grew by {ratio.total:g}; this probe sent {window.sent})",
            exchange=window.last,
        )
    severity = metrics.error_ratio.severity(value)
    probe.measured({"errors": ratio.errors, "total": ratio.total,
                    "error_ratio": round(value, 4), "severity": severity})  # fmt: skip
    if severity is not None and fails_at(severity, metrics.fail_at):
        raise ProbeFailure(
            f"{what}: 5xx ratio {value:.1%} ({ratio.errors:g} of {ratio.total:g} requests) "
            f"breaches {severity} ({metrics.error_ratio.describe()})",
            exchange=window.last,
            measured=value,
            limit=metrics.error_ratio.limit(severity),
        )


def test_p95_latency(st_run: Run, window: Window, probe: ProbeContext) -> None:
    metrics = _metrics(st_run)
    if metrics.duration_metric is None:
        pytest.skip("the profile names no duration_metric")
    probe.about("GET", metrics.path)
    what = f"GET {metrics.path}, two scrapes"
    buckets = exposition.bucket_deltas(window.before, window.after, metrics.duration_metric)
    p95 = exposition.histogram_quantile(0.95, buckets)
    if p95 is None:
        why = "no observations" if buckets else "no buckets"
        if buckets and buckets[-1][0] != float("inf"):
            why = 'no le="+Inf" bucket'
        raise ProbeFailure(
            f"{what}: cannot estimate p95 from {metrics.duration_metric} ({why})",
            exchange=window.last,
        )
    severity = metrics.p95_seconds.severity(p95)
    probe.measured({"p95_seconds": round(p95, 4), "observations": buckets[-1][1],
                    "severity": severity})  # fmt: skip
    if severity is not None and fails_at(severity, metrics.fail_at):
        raise ProbeFailure(
            f"{what}: p95 {p95:.3f} s of {buckets[-1][1]:g} requests breaches {severity} "
            f"({metrics.p95_seconds.describe(' s')})",
            exchange=window.last,
            measured=p95,
            limit=metrics.p95_seconds.limit(severity),
        )


_WINDOWED = frozenset({"test_counters_only_grow", "test_error_ratio", "test_p95_latency"})


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """One scrape per plain probe; the window (two rounds of traffic, two scrapes) once per
    process that runs a windowed probe, so up to once per xdist worker."""
    metrics = _metrics(run)
    windowed = sum(1 for function, _ in tests if function in _WINDOWED)
    plain = len(tests) - windowed
    if not windowed:
        return Cost.exactly(plain)
    gets = [e for e in run.profile.endpoints if e.method == "GET" and e.path != metrics.path]
    window = 2 * metrics.traffic_rounds * len(gets) + 2
    return Cost(plain + window, plain + window * min(windowed, processes()))
