"""Synthetic probe runs in the results format, with the facts the alert rules read."""

from __future__ import annotations

from typing import Any

GIB = 1024**3


def probe_run(
    run_id: str = "a" * 32,
    *,
    environment: str = "staging",
    ts: float = 1_800_000_000.0,
    performance: list[tuple[int | None, float | None]] | None = None,
    fps: float | None = 90.0,
    memory_bytes: float | None = 2 * GIB,
    rate_limit: str | None = "passed",
    unprovoked_429: int = 0,
) -> list[dict[str, Any]]:
    """Records of one probe run in the results format, with the facts the rules read."""
    common = {
        "schema": "spacetime-probes/results/1",
        "run_id": run_id,
        "source": "probe",
        "target": "https://staging.example:8080",
        "environment": environment,
    }
    seq = iter(range(10_000))
    records = [
        {**common, "kind": "run", "seq": next(seq), "phase": "start", "ts": ts,
         "profile": "staging", "commit": "c0ffee" * 6, "exit_status": None, "counts": None},
    ]  # fmt: skip
    for status, latency in performance if performance is not None else [(200, 12.0)] * 10:
        records.append(
            {**common, "kind": "sample", "seq": next(seq), "ts": ts + 1,
             "probe": "probes/test_latency.py::test_latency_sla[GET/performance]",
             "family": "latency", "endpoint": "/performance", "method": "GET",
             "status": status, "latency_ms": latency,
             "error": None if status else "cannot connect: refused",
             "expected_status": status == 200 if status else False}
        )  # fmt: skip
    for _ in range(unprovoked_429):
        records.append(
            {**common, "kind": "sample", "seq": next(seq), "ts": ts + 2,
             "probe": "probes/test_contract.py::test_x", "family": "contract",
             "endpoint": "/scenes", "method": "GET", "status": 429, "latency_ms": 3.0,
             "error": None, "expected_status": False}
        )  # fmt: skip
    for metric, value in (("engine.fps", fps), ("memory.static_memory_usage", memory_bytes)):
        if value is None:
            continue
        records.append(
            {**common, "kind": "outcome", "seq": next(seq), "ts": ts + 3,
             "probe": f"probes/test_performance.py::test_performance_threshold[{metric}]",
             "family": "performance", "endpoint": "/performance", "method": "GET",
             "outcome": "passed", "duration_s": 0.01, "reason": None,
             "measured": {"metric": metric, "value": value, "severity": None}}
        )  # fmt: skip
    if rate_limit is not None:
        records.append(
            {**common, "kind": "outcome", "seq": next(seq), "ts": ts + 4,
             "probe": "probes/test_rate_limit.py::test_bucket[GET/scenes-unauthenticated]",
             "family": "rate_limit", "endpoint": "/scenes", "method": "GET",
             "outcome": rate_limit, "duration_s": 2.0,
             "reason": None if rate_limit == "passed"
             else "GET /scenes drained unauthenticated: 503 where 429 is due | reproduce: curl",
             "measured": None}
        )  # fmt: skip
    records.append(
        {**common, "kind": "run", "seq": next(seq), "phase": "end", "ts": ts + 5,
         "profile": "staging", "commit": None, "exit_status": 0, "counts": None}
    )  # fmt: skip
    return records
