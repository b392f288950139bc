"""How often the latency verdict raises a false alarm, how often it catches a fault, and how
close its p95 comes to the truth.

    python benchmarks/latency_verdicts.py [--runs 100] [--endpoints 11] [--seed 1]
        [--fidelity-samples 120] [--real-runs 1] [--real-scenarios slow90,tail4,jitter,path150]
        [--skip-fidelity] [--skip-real]

1. Simulated runs, in process (`--runs` per scenario, default 100): the
   probe's whole decision procedure (warm-up median, Little's law plan,
   open schedule on an ideal machine, the charged waits, the sequential
   verdict across `--endpoints` probes sharing the false-alarm budget) on
   service times drawn from each scenario. Per scenario: the share of runs
   with any breach (a false alarm on a conforming target, with its exact 95 %
   upper bound; a catch for a fault), the endpoints' met / inconclusive
   shares and the mean samples judged. Beside it, "before": the procedure
   this replaced (one connection, latency from the due time, a fresh test
   at each look, the point estimate when undecided) on the same draws.
2. Fidelity on the real reference server (`--latency-ms` 20, 70, 150 and a
   150 ms round trip through tests/delayproxy.py): the probe's p95 over
   `--fidelity-samples` requests against the injected truth, beside the
   loopback floor the server and client add by themselves (`--latency-ms 0`).
   Goal: within 2 ms or 2 %, whichever is larger.
3. Real runs (`--real-runs` of each of `--real-scenarios`): `pytest
   probes/test_latency.py` against `refserver --rate 50 --burst 50` with a
   50/s profile, as a user runs it; a run with any failed probe is a false alarm.

Figures, not assertions: the self-tests assert behaviour, this measures it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from probes.pacer import paced  # noqa: E402
from probes.profile import RateLimit, Sla  # noqa: E402
from probes.schedule import (  # noqa: E402
    Dispatcher,
    Plan,
    plan_for,
    report,
    sequential,
    service_time_ms,
    simulate,
    warm_samples,
)
from probes.stats import (  # noqa: E402
    Decision,
    binomial_cdf,
    binomial_sf,
    crossing_probability,
    latency_verdict,
    percentile,
    sequential_design,
)

THRESHOLD_MS = 200.0
PERCENTILE = 95.0
CONFIDENCE = 0.95
MIN_SAMPLES, MAX_SAMPLES = Sla().min_samples, Sla().max_samples
OLD_BATCH = 20  # the procedure this replaced looked every 20 samples
TIMEOUT_MS = 10_000.0
WARMUP = 5
TAIL_HORIZON_MS = 10 * THRESHOLD_MS
# A 50/s profile's paced rate, one pytest process: what the probe plans with.
BUDGET_RATE = paced(50, 50, RateLimit(rate_per_second=50, burst=50).pace_ratio)[0]

Service = Callable[[int, float], float]  # (request number from the first warm-up, time s) -> ms


@dataclass(frozen=True)
class Scenario:
    name: str
    # Per run and endpoint: the endpoint's service-time function.
    make: Callable[[random.Random, int], Service]
    faulty: frozenset[int] | None = None  # endpoints a fault affects; None: conforming
    rate: float = BUDGET_RATE


def fixed(ms: float) -> Callable[[random.Random, int], Service]:
    return lambda rng, e: lambda i, t: ms


def jitter(ms: float, spread: float) -> Callable[[random.Random, int], Service]:
    return lambda rng, e: lambda i, t: max(0.0, ms + rng.uniform(-spread, spread))


def tail(base: float, ratio: float, slow: float) -> Callable[[random.Random, int], Service]:
    return lambda rng, e: lambda i, t: slow if rng.random() < ratio else base


def on(endpoints: set[int], extra: float, base: float = 2.0):
    return lambda rng, e: lambda i, t: base + (extra if e in endpoints else 0.0)


def every_7th(endpoints: set[int], extra: float, base: float = 2.0):
    """The latency-tail fault: every 7th request per endpoint, warm-ups counted."""
    return lambda rng, e: lambda i, t: base + (extra if e in endpoints and i % 7 == 6 else 0.0)


def stall(period_s: float = 3.0, stall_s: float = 1.0, base: float = 2.0):
    """The latency-stall fault: the whole API stalls `stall_s` every `period_s`, random phase."""

    def make(rng: random.Random, e: int) -> Service:
        phase0 = rng.uniform(0, period_s)

        def service(i: int, t: float) -> float:
            phase = (t + phase0) % period_s
            return base + (stall_s - phase) * 1000 if phase < stall_s else base

        return service

    return make


@dataclass
class Tally:
    runs: int = 0
    any_breach: int = 0
    caught: int = 0
    endpoints: int = 0
    met: int = 0
    breach: int = 0
    inconclusive: int = 0
    judged: int = 0
    before_any_breach: int = 0
    before_caught: int = 0


def old_verdict(samples: Sequence[float]) -> bool:
    """The replaced procedure: a fresh exact test at each look, the point estimate at the end."""
    for n in range(MIN_SAMPLES, MAX_SAMPLES + 1, OLD_BATCH):
        x = sum(1 for v in samples[:n] if v > THRESHOLD_MS)
        if binomial_sf(x, n, 0.05) < 0.05 and x / n > 0.05:
            return True
        if binomial_cdf(x, n, 0.05) < 0.05 and x / n < 0.05:
            return False
    return percentile(samples[:MAX_SAMPLES], PERCENTILE) > THRESHOLD_MS


def one_endpoint(service: Service, rate: float, design) -> tuple[Decision, int, bool]:
    """The probe on one endpoint: warm-up, plan, schedule, verdict; and the old verdict."""
    warm = [service(k, -10.0 + 0.1 * k) for k in range(WARMUP)]
    plan = plan_for(
        rate,
        service_time_ms(warm, TIMEOUT_MS),
        allowed_ratio=design.p0,
        tail_horizon_ms=TAIL_HORIZON_MS,
    )
    offset = WARMUP + plan.connections  # the concurrent warm-up requests count too

    def shifted(i: int, t: float) -> float:
        return service(i + offset, t)

    schedule = report(plan, simulate(plan, MAX_SAMPLES, shifted), TIMEOUT_MS)
    verdict = latency_verdict(
        schedule.corrected, threshold_ms=THRESHOLD_MS, percentile_q=PERCENTILE, design=design
    )
    one = Plan(rate, rate, 1, plan.service_ms)  # before: one connection, from the due time
    before = report(
        one, simulate(one, MAX_SAMPLES, lambda i, t: service(i + WARMUP + 1, t)), TIMEOUT_MS
    )
    return verdict.decision, verdict.samples, old_verdict(before.corrected)


def simulate_scenario(
    scenario: Scenario, runs: int, endpoints: int, seed: int, batch: int
) -> Tally:
    design = sequential_design(
        percentile_q=PERCENTILE,
        confidence=CONFIDENCE,
        endpoints=endpoints,
        min_samples=MIN_SAMPLES,
        batch=batch,
        max_samples=MAX_SAMPLES,
    )
    rng = random.Random(f"{seed}-{scenario.name}")
    tally = Tally()
    for _ in range(runs):
        tally.runs += 1
        breached: set[int] = set()
        before: set[int] = set()
        for e in range(endpoints):
            decision, judged, old = one_endpoint(scenario.make(rng, e), scenario.rate, design)
            tally.endpoints += 1
            tally.judged += judged
            tally.met += decision is Decision.MET
            tally.breach += decision is Decision.BREACH
            tally.inconclusive += decision is Decision.INCONCLUSIVE
            if decision is Decision.BREACH:
                breached.add(e)
            if old:
                before.add(e)
        tally.any_breach += bool(breached)
        tally.before_any_breach += bool(before)
        if scenario.faulty is not None:
            tally.caught += bool(breached & scenario.faulty)
            tally.before_caught += bool(before & scenario.faulty)
    return tally


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """The exact (Clopper-Pearson) one-sided upper confidence bound of a rate k/n."""
    if k >= n:
        return 1.0
    low, high = k / n, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if binomial_cdf(k, n, middle) > 1 - confidence:
            low = middle
        else:
            high = middle
    return high


def simulated(args: argparse.Namespace) -> None:
    m = args.endpoints
    design = sequential_design(
        percentile_q=PERCENTILE,
        confidence=CONFIDENCE,
        endpoints=m,
        min_samples=MIN_SAMPLES,
        batch=args.batch,
        max_samples=MAX_SAMPLES,
    )
    at_p0 = crossing_probability(design.looks, design.breach.bounds, design.p0, "upper")
    print(
        f"design: m = {m}, looks {design.looks}, breach when over >= {design.breach.bounds} "
        f"(per-look level {design.breach.level:.3g}), met when over <= {design.met.bounds}"
    )
    print(
        f"  exact errors at p0 = {design.p0:g}: breach {design.breach.error:.5f} per endpoint "
        f"(target {design.alpha:.5f}), so a run of {m} raises a false alarm in at most "
        f"{1 - (1 - at_p0) ** m:.4f}; met {design.met.error:.4f} (target {1 - CONFIDENCE:g})"
    )
    conforming = [
        Scenario("fixed 20 ms", fixed(20)),
        Scenario("fixed 90 ms (the issue)", fixed(90)),
        Scenario("fixed 150 ms", fixed(150)),
        Scenario("fixed 190 ms", fixed(190)),
        Scenario("90 ms +-50 jitter", jitter(90, 50)),
        Scenario("150 ms +-45 jitter", jitter(150, 45)),
        Scenario("fixed 90 ms at 40 r/s", fixed(90), rate=40),
        Scenario("20 ms, 4 % at 300 ms (the issue)", tail(20, 0.04, 300)),
        Scenario("20 ms, 4 % at 300 ms at 40 r/s", tail(20, 0.04, 300), rate=40),
        Scenario("20 ms, 4 % at 1000 ms", tail(20, 0.04, 1000)),
        Scenario("90 ms, 4.5 % at 300 ms", tail(90, 0.045, 300)),
        Scenario("20 ms, 5 % at 300 ms (at p0 itself)", tail(20, 0.05, 300)),
    ]
    reads = set(range(1, min(m, 7)))  # the authenticated GETs: 6 of the contract's 11
    faults = [
        Scenario("latency-slow-all (+300 ms)", on(set(range(m)), 300), frozenset(range(m))),
        Scenario("latency-tail (every 7th +700)", every_7th(reads, 700), frozenset(reads)),
        Scenario("random 14 % at +700 ms", tail(2, 1 / 7, 702), frozenset(range(m))),
        Scenario("latency-slow-endpoint (+250)", on({0}, 250), frozenset({0})),
        Scenario("latency-stall (1 s every 3 s)", stall(), frozenset(range(m))),
        Scenario("latency-slow-write (+400)", on({0, 1}, 400), frozenset({0, 1})),
        Scenario("20 ms, 10 % at 300 ms", tail(20, 0.10, 300), frozenset(range(m))),
    ]
    head = (
        f"  {'scenario':<38}{'runs':>5}{'false alarm':>13}{'(95% ub)':>10}{'per ep':>8}"
        f"{'met':>7}{'inconc':>8}{'mean n':>8}{'before':>9}"
    )
    print(
        f"\n1. simulated runs of {m} endpoints, conforming targets "
        "(false alarm: any breach in the run)"
    )
    print(head)
    started = time.perf_counter()
    for scenario in conforming:
        t = simulate_scenario(scenario, args.runs, m, args.seed, args.batch)
        print(
            f"  {scenario.name:<38}{t.runs:>5}{t.any_breach / t.runs:>13.2%}"
            f"{upper_bound(t.any_breach, t.runs):>10.2%}{t.breach / t.endpoints:>8.2%}"
            f"{t.met / t.endpoints:>7.0%}"
            f"{t.inconclusive / t.endpoints:>8.0%}{t.judged / t.endpoints:>8.1f}"
            f"{t.before_any_breach / t.runs:>9.0%}"
        )
    print("\n   faults' shapes (catch: a faulty endpoint breached in the run)")
    print(
        f"  {'scenario':<38}{'runs':>5}{'caught':>13}{'':>10}{'':>8}{'met':>7}{'inconc':>8}"
        f"{'mean n':>8}{'before':>9}"
    )
    for scenario in faults:
        t = simulate_scenario(scenario, args.runs, m, args.seed, args.batch)
        print(
            f"  {scenario.name:<38}{t.runs:>5}{t.caught / t.runs:>13.1%}{'':>10}{'':>8}"
            f"{t.met / t.endpoints:>7.0%}{t.inconclusive / t.endpoints:>8.0%}"
            f"{t.judged / t.endpoints:>8.1f}{t.before_caught / t.runs:>9.0%}"
        )
    print(f"  ({time.perf_counter() - started:.0f} s)")


# Real server --------------------------------------------------------------------------------


def measure_p95(url: str, token: str, samples: int) -> tuple[float, float, Plan]:
    """The probe's own measurement of GET /scenes at `url`: corrected and per-request p95."""
    from probes.client import ProbeClient

    client = ProbeClient(url, token=token, timeout_s=TIMEOUT_MS / 1000, pacer=None)
    try:

        def send():
            return client.request("GET", "/scenes")

        warm = sequential(send, WARMUP, time.perf_counter)
        plan = plan_for(
            BUDGET_RATE,
            service_time_ms([s.latency_ms for s in warm], TIMEOUT_MS),
            allowed_ratio=0.05,
            tail_horizon_ms=TAIL_HORIZON_MS,
        )
        with Dispatcher(plan, send, clock=time.perf_counter, sleep=time.sleep) as dispatcher:
            dispatcher.warm()
            sent = dispatcher.run(samples, lambda done: False, after=warm_samples(warm))
        schedule = report(plan, sent, TIMEOUT_MS)
        return (
            percentile(schedule.corrected, PERCENTILE),
            percentile(schedule.uncorrected, PERCENTILE),
            plan,
        )
    finally:
        client.close()


def wire_p95(url: str, token: str, samples: int, rate: float = BUDGET_RATE) -> float:
    """The same requests from a minimal client (a raw keep-alive socket, no httpx, no threads),
    at the same rate: the reference the probe's own overhead is judged against."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    request = (
        f"GET /scenes HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}"
        "\r\nAccept-Encoding: identity\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    with socket.create_connection((host, int(port)), timeout=TIMEOUT_MS / 1000) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for k in range(samples + WARMUP):
            due = time.perf_counter() + 1 / rate
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += sock.recv(65536)
            if k >= WARMUP:
                latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, due - time.perf_counter()))
    return percentile(latencies, PERCENTILE)


def fidelity(args: argparse.Namespace, workdir: Path) -> None:
    from delayproxy import DelayProxy
    from support import refserver

    print(
        f"\n2. fidelity: p95 of {args.fidelity_samples} requests (GET /scenes) against the "
        "injected truth and against a raw-socket client on the same path; goal max(2 ms, 2 %)"
    )
    print(
        f"  {'path':<36}{'truth':>7}{'probe':>8}{'per-req':>9}{'wire':>8}{'vs truth':>10}"
        f"{'vs wire':>9}{'goal':>6}  plan"
    )
    limits = ("--rate", "100000", "--burst", "100000")
    cases: list[tuple[str, float, tuple[str, ...], float | None]] = [
        ("loopback floor (--latency-ms 0)", 0.0, ("--latency-ms", "0"), None),
        *((f"--latency-ms {ms:g}", ms, ("--latency-ms", f"{ms:g}"), None) for ms in (20, 70, 150)),
        ("150 ms round trip (delayproxy)", 150.0, ("--latency-ms", "0"), 150.0),
    ]
    for index, (name, truth, server_args, rtt) in enumerate(cases):
        with refserver(workdir / f"fidelity-{index}", *limits, *server_args) as server:
            token = server.token_file.read_text().strip()
            with contextlib.ExitStack() as stack:
                url = server.base_url
                if rtt is not None:
                    port = int(server.base_url.rsplit(":", 1)[1])
                    url = stack.enter_context(DelayProxy(("127.0.0.1", port), rtt_ms=rtt)).url()
                p95, plain, plan = measure_p95(url, token, args.fidelity_samples)
                wire = wire_p95(url, token, args.fidelity_samples)
        goal = max(2.0, 0.02 * truth)
        print(
            f"  {name:<36}{truth:>7.1f}{p95:>8.2f}{plain:>9.2f}{wire:>8.2f}{p95 - truth:>+10.2f}"
            f"{p95 - wire:>+9.2f}{goal:>6.1f}  {plan.connections} conn at "
            f"{plan.rate_per_s:g} r/s"
        )


REAL = {
    "slow90": ("every answer 90 ms", ("--latency-ms", "90"), None),
    "tail4": (
        "20 ms, 4 % at 300 ms",
        ("--latency-ms", "20", "--latency-tail-ratio", "0.04", "--latency-tail-ms", "300"),
        None,
    ),
    "jitter": ("120 ms +-60 jitter", ("--latency-ms", "120", "--latency-jitter-ms", "60"), None),
    "path150": ("150 ms +-10 rtt, 20 ms (near 200)", ("--latency-ms", "20"), 150.0),
}


def real_runs(args: argparse.Namespace, workdir: Path) -> None:
    import yaml
    from delayproxy import DelayProxy
    from support import refserver, run_probes

    names = [n for n in args.real_scenarios.split(",") if n]
    print(
        f"\n3. real runs: pytest probes/test_latency.py, {args.real_runs} per scenario, "
        "profile 50/s burst 50, the contract's 10 endpoints + manager"
    )
    print(
        f"  {'scenario':<32}{'runs':>5}{'false alarm':>13}{'met':>6}{'inconc':>8}"
        f"{'p95 median':>12}{'seconds':>9}"
    )
    profile = workdir / "profile.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "name": "bench",
                "environment": "local",
                "rate_limit": {"rate_per_second": 50, "burst": 50},
                "scenes": ["res://vr_main.tscn", "res://scenes/lobby.tscn"],
            }
        )
    )
    for name in names:
        label, server_args, rtt = REAL[name]
        alarms = met = undecided = total = 0
        p95s: list[float] = []
        reasons: list[str] = []
        started = time.perf_counter()
        for k in range(args.real_runs):
            seed = ("--latency-seed", str(args.seed * 1000 + k))
            with refserver(
                workdir / f"real-{name}-{k}", "--rate", "50", "--burst", "50", *server_args, *seed
            ) as server:

                def run(url: str, manager: str, out: Path = workdir / f"out-{name}-{k}"):
                    return run_probes(
                        out,
                        f"--st-target={url}",
                        f"--st-manager-url={manager}",
                        f"--st-token-file={server.token_file}",
                        f"--st-profile={profile}",
                        selection=("probes/test_latency.py",),
                    )

                if rtt is None:
                    result = run(server.base_url, server.manager_url)
                else:
                    api = int(server.base_url.rsplit(":", 1)[1])
                    mgr = int(server.manager_url.rsplit(":", 1)[1])
                    with (
                        DelayProxy(("127.0.0.1", api), rtt_ms=rtt, jitter_ms=10, seed=k) as a,
                        DelayProxy(("127.0.0.1", mgr), rtt_ms=rtt, jitter_ms=10, seed=k) as b,
                    ):
                        result = run(a.url(), b.url())
            records = [
                r for r in result.records if r["kind"] == "outcome" and r["family"] == "latency"
            ]
            failed = [r for r in records if r["outcome"] in {"failed", "error"}]
            alarms += bool(failed)
            reasons.extend(f"    run {k + 1}: {r['reason']}" for r in failed)
            for r in records:
                total += 1
                decision = (r.get("measured") or {}).get("decision")
                met += decision == "met"
                undecided += decision == "inconclusive"
                if r.get("measured"):
                    p95s.append(r["measured"]["p95_ms"])
        seconds = (time.perf_counter() - started) / max(args.real_runs, 1)
        print(
            f"  {label:<32}{args.real_runs:>5}{alarms / max(args.real_runs, 1):>13.0%}"
            f"{met / max(total, 1):>6.0%}{undecided / max(total, 1):>8.0%}"
            f"{statistics.median(p95s) if p95s else math.nan:>12.1f}{seconds:>9.0f}"
        )
        for line in reasons:
            print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=100, help="simulated runs per scenario (0: none)"
    )
    parser.add_argument("--endpoints", type=int, default=11, help="latency probes per run (m)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--batch", type=int, default=Sla().batch, help="samples between looks (the profile's)"
    )
    parser.add_argument("--fidelity-samples", type=int, default=120)
    parser.add_argument("--real-runs", type=int, default=1)
    parser.add_argument(
        "--real-scenarios", default="slow90", help=f"comma-separated, of {', '.join(REAL)}"
    )
    parser.add_argument("--skip-fidelity", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    unknown = set(args.real_scenarios.split(",")) - set(REAL) - {""}
    if unknown:
        parser.error(f"unknown real scenarios: {', '.join(sorted(unknown))}")
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    if args.runs > 0:
        simulated(args)
    with tempfile.TemporaryDirectory(prefix="latency-verdicts-") as tmp:
        if not args.skip_fidelity:
            fidelity(args, Path(tmp))
        if not args.skip_real and args.real_runs > 0:
            real_runs(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
