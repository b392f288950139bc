"""Memory of a 1-million-request load run in the process holding the histograms.

    python benchmarks/load_memory.py [--requests 1000000] [--skip-locust] [--processes 1]

Two figures:
  in process   1M requests recorded into a LatencyBook over 1000 simulated
               seconds (8 endpoints, 10 s buckets closed and written as they
               go): the histograms' own cost, deterministic, no Locust.
  Locust run   `locust -f loadtests/api.py OperatorUser --st-think-scale 0`
               against the nginx stub until it has sent the requests; peak
               RSS of the process holding the histograms, sampled every
               0.5 s (the single process, or the master with --processes).
Goal: <= 100 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from load_common import PROFILES, free_port, locust_throughput, profile_args, target

from loadtests.latency import LatencyBook
from loadtests.results import LoadResults, RunInfo
from loadtests.traffic import OPERATOR_MIX, Outcome


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def in_process(requests: int, workdir: Path) -> None:
    rng = random.Random(1)
    endpoints = [(c.method, c.endpoint) for c in OPERATOR_MIX] + [("GET", "/performance")]
    book = LatencyBook(200.0, 10.0)
    writer = LoadResults(workdir / "memory.jsonl", RunInfo("0" * 32, "x", "local", "m", None))
    before = rss_mb()
    seconds = 1000.0
    started = time.perf_counter()
    second = -1
    for i in range(requests):
        now = i * seconds / requests
        method, endpoint = endpoints[i % len(endpoints)]
        latency = math.exp(rng.gauss(1.5, 0.8))  # ms, lognormal: median ~4.5 ms, long tail
        book.record(method, endpoint, now, latency, Outcome.OK)
        if int(now) != second:  # the flusher's cadence: once a second
            second = int(now)
            for bucket in book.close_due(now, 10.0):
                writer.aggregate(bucket, None, 200.0)
    for bucket in book.close_all():
        writer.aggregate(bucket, None, 200.0)
    writer.close()
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"in process: {requests} requests in {elapsed:.1f} s "
        f"({elapsed / requests * 1e6:.2f} us each incl. bucket closing and writing); "
        f"RSS {before:.1f} -> {rss_mb():.1f} MB, peak {peak:.1f} MB"
    )


def locust_run(requests: int, processes: int, workdir: Path) -> None:
    with target("nginx", workdir / "nginx") as tgt:
        extra = profile_args(tgt, workdir / "results.jsonl")
        calibrate = workdir / "calibrate"
        calibrate.mkdir()
        base = [
            sys.executable, "-m", "locust", "-f", str(PROFILES), "--headless", "--only-summary",
            "--host", tgt.base_url, "-u", "32", "-r", "32", *extra,
        ]  # fmt: skip
        if processes > 1:
            port = str(free_port())
            base += ["--processes", str(processes), "--master-bind-port", port]
            base += ["--master-port", port]
        subprocess.run(
            [*base, "-t", "5s", "--json-file", str(calibrate / "stats")],
            cwd=calibrate, capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        rate = locust_throughput(calibrate / "stats.json").rps
        seconds = math.ceil(requests / rate * 2) + 30  # an upper bound: stopped at the count
        plural = "es" if processes > 1 else ""
        print(
            f"Locust run: ~{rate:.0f} req/s calibrated, running until {requests} requests "
            f"are in the results ({processes} process{plural})"
        )
        results = workdir / "results.jsonl"
        results.unlink(missing_ok=True)
        process = subprocess.Popen(
            [*base, "-t", f"{seconds}s", "--json-file", str(workdir / "stats")],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        holder = psutil.Process(process.pid)
        peak, samples, counted, offset = 0.0, [], 0, 0
        while process.poll() is None:
            try:
                rss = holder.memory_info().rss / 2**20
            except psutil.Error:
                break
            peak = max(peak, rss)
            samples.append(rss)
            counted, offset = _count_written(results, counted, offset)
            if counted >= requests:
                process.send_signal(signal.SIGTERM)  # Locust shuts down cleanly on SIGTERM
                break
            time.sleep(0.5)
        code = process.wait(timeout=120)
        early = samples[len(samples) // 10] if samples else 0.0
        print(
            f"Locust run: RSS of the process holding the histograms: {early:.1f} MB at 10% "
            f"of the run, peak {peak:.1f} MB (goal <= 100 MB)"
        )
        stats = workdir / "stats.json"
        if stats.exists():
            done = locust_throughput(stats)
            print(f"Locust run: {done.requests} requests in {done.seconds:.0f} s, exit {code}")
        else:
            print(f"Locust run: >= {counted} requests in the results, exit {code}")


def _count_written(results: Path, counted: int, offset: int) -> tuple[int, int]:
    """Requests in the aggregate records appended since `offset` (complete lines only)."""
    if not results.exists():
        return counted, offset
    with results.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read()
    complete = chunk[: chunk.rfind(b"\n") + 1]
    for line in complete.splitlines():
        record = json.loads(line)
        if record.get("kind") == "aggregate":
            counted += record["total"]
    return counted, offset + len(complete)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--skip-locust", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="load-memory-") as tmp:
        in_process(args.requests, Path(tmp))
        if not args.skip_locust:
            locust_run(args.requests, args.processes, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
