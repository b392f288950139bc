"""Latency SLA: per endpoint, the target's own latency, judged on the tail with stated confidence.

The figure is the contract's: first byte sent to last byte received, on a
warm connection, under the probe's light load. A few sequential warm-up
requests, the first samples but for one that opened its connection, measure
the service time (the same request answered alone earlier in the run, by
another family's probe, counts as one of them and is not sent again); Little's
law sizes the connections (`probes.schedule.plan_for`) so that the probe never
queues behind its own requests; they are opened and warmed (unless the
client's pool holds them open from the last endpoint); then an open
schedule sends each request when it is due on a free connection. A stall still shows:
requests due during it meet it, and when it holds every connection, the wait for
one is charged to the requests that waited (the coordinated-omission
correction, limited to the target's doing).

Sampling is sequential with exact group-sequential boundaries
(`probes.stats.sequential_design`): looks at min_samples, +batch, ...,
max_samples, and the run's false-alarm budget split across its latency
probes, so a conforming run fails in at most 1 - confidence of runs. Three
outcomes: met, breach (a failure), inconclusive (`Inconclusive`: the
samples could not tell, or the probe could not keep its own schedule);
inconclusive is reported and left to the SLO module. The plain per-request
figure is printed beside the corrected one, and the mean beside the
percentile, to show when either lies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.outcomes import Inconclusive
from probes.plan import Cost, processes
from probes.profile import Endpoint
from probes.run import RUN, ProbeContext, Run
from probes.schedule import (
    POOL_CONNECTIONS,
    Dispatcher,
    Plan,
    ScheduleReport,
    Sent,
    earlier,
    needs_warming,
    plan_for,
    report,
    sequential,
    warm_samples,
)
from probes.schedule import service_time_ms as warmup_service_ms
from probes.stats import (
    Decision,
    Design,
    LatencyVerdict,
    family_size,
    latency_verdict,
    percentile,
    sequential_design,
    summarize,
)

HEALTH = Endpoint(method="GET", path="/health", auth=False)
WARMUP_REQUESTS = 5  # sequential, samples but for a connection's first: the median sizes the plan
# Spare connections cover slow answers of up to this many thresholds (see plan_for).
TAIL_HORIZON_THRESHOLDS = 10


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None or "endpoint" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(
            e, id=e.key.replace(" ", ""), marks=[pytest.mark.mutating] if e.mutating else []
        )
        for e in run.profile.endpoints
    ]
    metafunc.parametrize("endpoint", params)


def design_for(run: Run) -> Design:
    """The run's sequential design; every xdist worker derives the same one from the profile."""
    sla = run.profile.sla
    return sequential_design(
        percentile_q=sla.percentile,
        confidence=sla.confidence,
        endpoints=family_size(
            len(run.profile.endpoints), manager=run.target.manager_url is not None
        ),
        min_samples=sla.min_samples,
        batch=sla.batch,
        max_samples=sla.max_samples,
    )


def _measure(
    client: ProbeClient, endpoint: Endpoint, scene: str, run: Run, design: Design
) -> tuple[ScheduleReport, int]:
    """The schedule's report, and how many of its samples are earlier answers reused."""
    sla = run.profile.sla
    body = endpoint.body_for(scene) if endpoint.body else None
    timeout_ms = run.profile.request_timeout_s * 1000

    def send() -> Exchange:
        return client.request(endpoint.method, endpoint.path, json_body=body)

    # The same request answered earlier in the run (by the auth, contract or performance
    # probes, each sent alone) is the warm-up already made: only the rest is sent.
    made = earlier(client.answered_alone(endpoint.method, endpoint.path, body)[-WARMUP_REQUESTS:])
    warmup = [*made, *sequential(send, WARMUP_REQUESTS - len(made), time.perf_counter)]
    plan = plan_for(
        # An equal share of the paced budget per pytest process (the xdist workers, or
        # this one alone), so a concurrent worker keeps its own share.
        run.pacer.rate_per_second / processes(),
        warmup_service_ms([s.latency_ms for s in warmup], timeout_ms),
        allowed_ratio=design.p0,
        tail_horizon_ms=TAIL_HORIZON_THRESHOLDS * sla.threshold_ms,
    )
    looked = [0]  # the prefix length last judged: judge once per look, not per request

    def decided(done: Sequence[Sent]) -> bool:
        reached = max((n for n in design.looks if n <= len(done)), default=0)
        if reached <= looked[0]:
            return False
        looked[0] = reached
        samples = report(plan, done[:reached], timeout_ms).corrected
        verdict = latency_verdict(
            samples, threshold_ms=sla.threshold_ms, percentile_q=sla.percentile, design=design
        )
        return verdict.decision is not Decision.CONTINUE

    with Dispatcher(plan, send, clock=time.perf_counter, sleep=time.sleep) as dispatcher:
        if needs_warming(plan.connections, client.open_connections(), client.warmed):
            dispatcher.warm()
            opened = client.open_connections()
            client.warmed = None if opened is None else (plan.connections, opened)
        sent = dispatcher.run(design.looks[-1], decided, after=warm_samples(warmup))
    return report(plan, sent, timeout_ms), len(warm_samples(made))


def _figures(
    schedule: ScheduleReport, verdict: LatencyVerdict, design: Design, run: Run, reused: int
) -> dict[str, Any]:
    """What the results record, the summary and the SLO module read about this endpoint."""
    sla = run.profile.sla
    n = verdict.samples
    timings = schedule.timings[:n]
    summary = summarize(schedule.corrected[:n])
    closed = summarize(schedule.uncorrected[:n])
    lateness = [t.lateness_ms for t in timings]
    plan: Plan = schedule.plan
    return {
        "samples": summary.samples,
        "p50_ms": round(summary.p50_ms, 2),
        "p95_ms": round(summary.p95_ms, 2),
        "p99_ms": round(summary.p99_ms, 2),
        "max_ms": round(summary.max_ms, 2),
        "mean_ms": round(summary.mean_ms, 2),
        "uncorrected_p95_ms": round(closed.p95_ms, 2),
        "uncorrected_p99_ms": round(closed.p99_ms, 2),
        "sent": len(schedule.timings) - reused,  # by this probe; warming requests aside
        "reused": reused,  # earlier answers to the same request, taken as the first samples
        "connections": plan.connections,
        "service_ms": round(plan.service_ms, 2),
        "rate_per_s": round(plan.rate_per_s, 3),
        "planned_rate_per_s": round(plan.budget_rate_per_s, 3),
        "rate_lowered": plan.lowered,
        "plan": plan.describe(),
        "interval_ms": round(plan.interval_s * 1000, 2),
        "achieved_rate_per_s": round(min(schedule.achieved_rate_per_s, 1e9), 3),
        "charged_samples": sum(1 for t in timings if t.charged_ms > 0),
        "charged_max_ms": round(max((t.charged_ms for t in timings), default=0.0), 2),
        "lateness_p95_ms": round(percentile(lateness, 95), 2),
        "lateness_max_ms": round(max(lateness), 2),
        "cpu_lag_max_ms": round(max(t.cpu_lag_ms for t in timings), 2),
        "queued_ms": round(schedule.queued_ms, 1),
        "exceeding": verdict.exceeding,
        "breach_at": verdict.breach_at,
        "met_at": verdict.met_at,
        "look": verdict.look + 1,
        "looks": verdict.looks,
        "threshold_ms": sla.threshold_ms,
        "percentile": sla.percentile,
        "confidence": sla.confidence,
        "endpoints_m": design.endpoints,
        "alpha_endpoint": round(design.alpha, 6),
        "breach_error": round(design.breach.error, 6),
        "met_error": round(design.met.error, 6),
        "p_breach": round(verdict.p_breach, 6),
        "decision": verdict.decision.value,
        "verdict": verdict.decision.value,
    }


def _judge(schedule: ScheduleReport, reused: int, what: str, run: Run, probe: ProbeContext) -> None:
    sla = run.profile.sla
    design = design_for(run)

    def judge(samples: Sequence[float]) -> LatencyVerdict:
        return latency_verdict(
            samples, threshold_ms=sla.threshold_ms, percentile_q=sla.percentile, design=design
        )

    verdict = judge(schedule.corrected)
    figures = _figures(schedule, verdict, design, run, reused)
    bound: str | None = None
    if verdict.breached:
        retried = judge(schedule.without_doubt(sla.threshold_ms, verdict.samples))
        bound = schedule.probe_bound(retried.breached)
    if bound is not None:
        figures.update(decision="inconclusive", verdict="inconclusive (probe-bound)",
                       reason=f"probe-bound: {bound}")  # fmt: skip
    elif verdict.decision is Decision.INCONCLUSIVE:
        figures["reason"] = f"undecided: {verdict.describe()}"
    probe.measured(figures)
    closed = summarize(schedule.uncorrected[: verdict.samples])
    tail = (
        f"(mean {figures['mean_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
        f"max {figures['max_ms']:.1f} ms; per-request p95 {closed.p95_ms:.1f} ms; "
        f"{schedule.plan.describe()})"
    )
    if bound is not None:
        raise Inconclusive(f"probe-bound: {bound} ({what}: {verdict.describe()})")
    if verdict.decision is Decision.INCONCLUSIVE:
        raise Inconclusive(f"{what} undecided after {verdict.samples} samples: "
                           f"{verdict.describe()} {tail}")  # fmt: skip
    if verdict.breached:
        raise ProbeFailure(
            f"{what}: {verdict.describe()} {tail}",
            measured=verdict.observed_ms,
            limit=sla.threshold_ms,
        )


def test_latency_sla(
    st_run: Run, st_client: ProbeClient, scene_guard: str, endpoint: Endpoint, probe: ProbeContext
) -> None:
    probe.about(endpoint.method, endpoint.path)
    schedule, reused = _measure(st_client, endpoint, scene_guard, st_run, design_for(st_run))
    _judge(schedule, reused, f"{endpoint.key} latency", st_run, probe)


def test_manager_health_latency_sla(
    st_run: Run, st_manager: ProbeClient, probe: ProbeContext
) -> None:
    probe.about(HEALTH.method, HEALTH.path)
    schedule, reused = _measure(st_manager, HEALTH, "", st_run, design_for(st_run))
    _judge(schedule, reused, "manager GET /health latency", st_run, probe)


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """Per endpoint: samples from the first look to the last (a verdict stops the sampling
    at its look), the warm-up's among them (at least, all of the warm-up answered earlier
    in the run); at most, one warm-up request that opened a connection and one request per
    connection to warm them."""
    design = design_for(run)
    low = max(0, design.looks[0] - WARMUP_REQUESTS)
    return Cost(low, 1 + POOL_CONNECTIONS + design.looks[-1]) * len(tests)
