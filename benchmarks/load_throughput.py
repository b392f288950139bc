"""Throughput of the load profiles, as ratios measured in one run on one target.

    python benchmarks/load_throughput.py [--target nginx|refserver] [--seconds 10] [--rounds 3]

Prints requests/s of:
  wrk           the same operator mix from a C client: the target's ceiling
  bare          benchmarks/load_bare_locustfile.py: FastHttpUser, no machinery
  profiles      loadtests/api.py OperatorUser at --st-think-scale 0, 1 process
  profiles x2   the same with --processes 2
and the ratios the issue sets goals for: profiles/bare (>= 0.90),
x2/x1 (>= 1.8), profiles/wrk. The runs alternate, `--rounds` times, and
medians (of the figures, and of each round's paired ratio) are compared,
because the machine is shared and a single run is noisy. Requests per
CPU-second of the generator's processes (over the span requests were sent)
are printed beside; they are less sensitive to other load, though a starved
gevent loop batches more per CPU-second. Also prints the recorder's own cost
per request, measured in process (no Locust): the part of the overhead these
profiles add on top of a bare FastHttpUser.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from load_common import (
    BARE,
    PROFILES,
    Throughput,
    median,
    profile_args,
    run_locust,
    run_wrk,
    target,
)

from loadtests.latency import LatencyBook
from loadtests.traffic import OPERATOR_MIX, classify


def recorder_cost_us(samples: int = 200_000) -> float:
    """Microseconds per request `SpaceTimeUser.send` spends classifying and recording."""
    book = LatencyBook(200.0, 10.0)
    call = OPERATOR_MIX[0]
    start = time.perf_counter()
    now = time.time()
    for i in range(samples):
        outcome = classify(200, call.expected)
        book.record_sent(call.method, call.endpoint, now + i * 1e-4, 3.0 + (i % 997) / 100, outcome)
        if i % 10_000 == 0:
            book.close_due(now + i * 1e-4, 10.0)
    book.close_all()
    return (time.perf_counter() - start) / samples * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("nginx", "refserver"), default="nginx")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()

    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    print(f"recorder cost: {recorder_cost_us():.2f} us per request (in process)")
    with (
        tempfile.TemporaryDirectory(prefix="load-throughput-") as tmp,
        target(args.target, Path(tmp) / "target") as tgt,
    ):
        results = Path(tmp) / "results.jsonl"
        run = {"users": args.users, "seconds": args.seconds}
        ceiling = run_wrk(tgt, connections=args.users, seconds=args.seconds)
        bare: list[Throughput] = []
        mine: list[Throughput] = []
        mine2: list[Throughput] = []
        for _ in range(args.rounds):
            bare.append(run_locust(BARE, tgt, **run))
            mine.append(run_locust(PROFILES, tgt, extra=profile_args(tgt, results), **run))
            mine2.append(
                run_locust(PROFILES, tgt, extra=profile_args(tgt, results), processes=2, **run)
            )
        b, m, m2 = (median([t.rps for t in runs]) for runs in (bare, mine, mine2))
        bc, mc, m2c = (median([t.per_cpu_second for t in runs]) for runs in (bare, mine, mine2))
        print(f"target: {tgt.name} {tgt.base_url}, {args.users} users, {args.seconds} s runs")
        print("                      req/s (median)  req/CPU-s (median)  rounds (req/s)")
        print(f"  wrk (1 thread)      {ceiling.rps:10.0f}")
        print(f"  bare FastHttpUser   {b:10.0f}      {bc:10.0f}          {_list(bare)}")
        print(f"  profiles, 1 process {m:10.0f}      {mc:10.0f}          {_list(mine)}")
        print(f"  profiles, 2 procs   {m2:10.0f}      {m2c:10.0f}          {_list(mine2)}")
        paired = median([p.rps / q.rps for p, q in zip(mine, bare, strict=True)])
        paired2 = median([p.rps / q.rps for p, q in zip(mine2, mine, strict=True)])
        print(
            f"ratio profiles / bare:   {m / b:.3f} of medians, {paired:.3f} median of paired "
            f"rounds, {mc / bc:.3f} per CPU-s (goal >= 0.90)"
        )
        print(
            f"ratio 2 procs / 1:       {m2 / m:.3f} of medians, {paired2:.3f} median of paired "
            "rounds (goal >= 1.8)"
        )
        print(
            f"  2 procs keep {m2c / mc:.3f} of 1 process's requests per CPU-s: "
            f"{2 * m2c / mc:.2f}x on 2 otherwise idle cores"
        )
        print(f"ratio profiles / wrk:    {m / ceiling.rps:.3f}")
        if ceiling.rps < 2 * m:
            print("note: wrk is < 2x the profiles: the target, not the generator, is the limit")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


def _list(runs: list[Throughput]) -> str:
    return ", ".join(f"{t.rps:.0f}" for t in runs)


if __name__ == "__main__":
    raise SystemExit(main())
