"""How well the open model keeps its schedule: late, dropped and unsent requests per rate.

    python benchmarks/load_openmodel.py [--target nginx|refserver] [--rates 200,1000,2000]
                                        [--seconds 20] [--connections 50] [--processes 1]

For each target rate, one headless run of `loadtests/api.py --st-open-rate R`
against the target (the nginx stub by default, so the server answers in well
under a millisecond and any lateness is the generator's), and from its
`--st-summary`: requests due, sent, late (left > 10 ms after their due time),
dropped (could not leave within 10 s), still queued at stop; the achieved
rate and requests per CPU-second of the generator (which says what rate one
otherwise idle core can hold, whatever else the machine runs); the p50/p99
latency measured from the due time (corrected) and from the send
(uncorrected). Where the two p99s part, the generator itself fell
behind the schedule: that is the rate one process cannot hold.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from load_common import PROFILES, Target, Throughput, run_locust, target


def open_run(
    tgt: Target, rate: float, workdir: Path, *, seconds: int, connections: int, processes: int
) -> tuple[dict, Throughput]:
    """One open-model run at `rate`: its schedule figures, and its throughput and CPU."""
    summary = workdir / f"summary-{rate:g}.json"
    extra = [
        "--st-token-file", str(tgt.token_file), "--st-open-rate", f"{rate:g}",
        "--st-open-connections", str(connections),
        "--st-results", str(workdir / "results.jsonl"), "--st-summary", str(summary),
        "--st-max-error-ratio", "1", "--st-sla-ms", "60000",
    ]  # fmt: skip
    done = run_locust(PROFILES, tgt, users=1, seconds=seconds, extra=extra, processes=processes)
    if not summary.exists():
        raise RuntimeError(f"no summary from the run at {rate:g}/s")
    return json.loads(summary.read_text())["open_model"], done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("nginx", "refserver"), default="nginx")
    parser.add_argument("--rates", default="200,1000,2000")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    with (
        tempfile.TemporaryDirectory(prefix="load-openmodel-") as tmp,
        target(args.target, Path(tmp) / "target") as tgt,
    ):
        print(
            f"target: {tgt.name}, {args.seconds} s per rate, {args.connections} connections, "
            f"{args.processes} process(es)"
        )
        print(
            "  rate/s  sent/s  req/CPU-s    due   sent   late  late%  dropped  unsent"
            "  p50 corr/unc ms  p99 corr/unc ms"
        )
        for rate in rates:
            f, done = open_run(
                tgt,
                rate,
                Path(tmp),
                seconds=args.seconds,
                connections=args.connections,
                processes=args.processes,
            )
            late_share = f["late"] / f["sent"] if f["sent"] else 0.0
            print(
                f"  {rate:6.0f}  {done.rps:6.0f}  {done.per_cpu_second:9.0f}  {f['intended']:5d}  "
                f"{f['sent']:5d}  {f['late']:5d}  {late_share:5.1%}  {f['dropped']:7d}  "
                f"{f['unsent']:6d}  {_ms(f['p50_corrected_ms'])}/{_ms(f['p50_uncorrected_ms'])}"
                f"  {_ms(f['p99_corrected_ms'])}/{_ms(f['p99_uncorrected_ms'])}"
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
