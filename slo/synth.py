"""Synthetic results records in the documented format, for tests, benchmarks and demos.

The SLO module's only interface with the probes and the load profiles is
docs/results-format.md; building fixtures from that format (not from the other
side's code) keeps the two sides honest. Pure: returns dicts and text, writes nothing.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from slo.records import SCHEMA

ENDPOINTS: tuple[tuple[str, str], ...] = (
    ("POST", "/scene"),
    ("GET", "/scene"),
    ("PUT", "/scene"),
    ("GET", "/scenes"),
    ("POST", "/scene/reload"),
    ("GET", "/scene/history"),
    ("GET", "/performance"),
    ("GET", "/webhooks"),
    ("GET", "/jobs"),
    ("GET", "/status"),
)
FAMILIES = ("auth", "rate_limit", "latency", "traversal", "contract", "health", "performance")
TARGET = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class SampleSpec:
    """One request a probe made: what came back and how fast."""

    method: str
    endpoint: str
    status: int | None
    latency_ms: float | None
    ts: float


class RunBuilder:
    """Builds one run's records with consecutive ``seq`` numbers."""

    def __init__(
        self,
        run_id: str,
        *,
        source: str = "probe",
        environment: str = "production",
        target: str = TARGET,
    ) -> None:
        self.run_id = run_id
        self.source = source
        self.environment = environment
        self.target = target
        self.records: list[dict] = []

    def _add(self, kind: str, **fields: object) -> dict:
        record = {
            "schema": SCHEMA,
            "kind": kind,
            "run_id": self.run_id,
            "seq": len(self.records),
            "source": self.source,
            "target": self.target,
            "environment": self.environment,
            **fields,
        }
        self.records.append(record)
        return record

    def start(self, ts: float, profile: str = "local", commit: str | None = None) -> RunBuilder:
        self._add("run", phase="start", ts=ts, profile=profile, commit=commit, exit_status=None,
                  counts=None)  # fmt: skip
        return self

    def end(self, ts: float, exit_status: int = 0, counts: dict | None = None) -> RunBuilder:
        self._add("run", phase="end", ts=ts, profile=None, commit=None, exit_status=exit_status,
                  counts=counts or {})  # fmt: skip
        return self

    def sample(
        self,
        ts: float,
        method: str,
        endpoint: str,
        status: int | None,
        latency_ms: float | None,
        probe: str = "probes/test_latency.py::test_endpoint",
        family: str = "latency",
    ) -> RunBuilder:
        self._add(
            "sample",
            ts=ts,
            probe=probe,
            family=family,
            endpoint=endpoint,
            method=method,
            status=status,
            latency_ms=latency_ms,
            error=None if status is not None else "timeout",
            expected_status=status is not None and status < 400,
        )
        return self

    def outcome(
        self,
        ts: float,
        probe: str,
        outcome: str = "passed",
        family: str = "contract",
        endpoint: str | None = None,
        method: str | None = None,
        duration_s: float = 0.05,
        reason: str | None = None,
    ) -> RunBuilder:
        self._add(
            "outcome",
            ts=ts,
            probe=probe,
            family=family,
            endpoint=endpoint,
            method=method,
            outcome=outcome,
            duration_s=duration_s,
            reason=reason,
            measured=None,
        )
        return self

    def aggregate(
        self,
        ts: float,
        method: str,
        endpoint: str,
        *,
        total: int,
        answered: int,
        server_errors: int,
        within_sla: int,
        sla_ms: float = 200.0,
        bucket_s: float = 10.0,
        stage: dict | None = None,
        rate_limited: int = 0,
        hdr: str | None = None,
    ) -> RunBuilder:
        self._add(
            "aggregate",
            ts=ts,
            bucket_s=bucket_s,
            endpoint=endpoint,
            method=method,
            stage=stage,
            total=total,
            answered=answered,
            server_errors=server_errors,
            rate_limited=rate_limited,
            within_sla=within_sla,
            sla_ms=sla_ms,
            hdr=hdr,
        )
        return self


def dumps(records: Iterable[dict]) -> str:
    """JSON Lines text, one record a line, newline-terminated."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


def run_id(n: int) -> str:
    return f"{n:032x}"


def probe_history(
    *,
    start: float,
    runs: int,
    every_s: float = 300.0,
    samples_per_run: int = 100,
    outcomes_per_run: int = 100,
    error_ratio: float = 0.0005,
    slow_ratio: float = 0.02,
    environment: str = "production",
    seed: int = 1,
    endpoints: Sequence[tuple[str, str]] = ENDPOINTS,
) -> Iterator[dict]:
    """Scheduled probe runs: every ``every_s`` a run of samples and outcomes.

    Errors and slow answers are drawn at the given ratios, so over many runs the SLIs
    converge on ``1 - error_ratio`` and ``1 - slow_ratio``.
    """
    rng = random.Random(seed)
    for n in range(runs):
        t0 = start + n * every_s
        run = RunBuilder(run_id(seed * 10_000_000 + n), environment=environment).start(t0)
        for i in range(samples_per_run):
            method, endpoint = endpoints[i % len(endpoints)]
            roll = rng.random()
            if roll < error_ratio / 5:
                status, latency = None, None
            elif roll < error_ratio:
                status, latency = 503, rng.uniform(1, 50)
            else:
                status = 200
                latency = (
                    rng.uniform(201, 900) if rng.random() < slow_ratio else rng.uniform(2, 150)
                )
            run.sample(t0 + i * 0.05, method, endpoint, status, latency)
        for i in range(outcomes_per_run):
            method, endpoint = endpoints[i % len(endpoints)]
            family = FAMILIES[i % len(FAMILIES)]
            failed = rng.random() < 0.01
            run.outcome(
                t0 + 6 + i * 0.01,
                f"probes/test_{family}.py::test_case[{i}]",
                "failed" if failed else "passed",
                family,
                endpoint,
                method,
                0.05,
                "Actual: 212.40ms / Limit: 200.00ms" if failed else None,
            )
        run.end(t0 + 8, exit_status=0)
        yield from run.records


def load_run(
    *,
    start: float,
    stages: Sequence[tuple[float, float, float, float]],
    bucket_s: float = 10.0,
    requests_per_bucket: int = 500,
    buckets_per_stage: int = 3,
    environment: str = "staging",
    number: int = 1,
    endpoints: Sequence[tuple[str, str]] = ENDPOINTS,
) -> list[dict]:
    """A stepped load run: per stage ``(users, rate_per_s, error_ratio, slow_ratio)``.

    Each stage lasts ``buckets_per_stage`` buckets per endpoint; counts are exact from
    the ratios.
    """
    run = RunBuilder(run_id(90_000_000 + number), source="load", environment=environment)
    run.start(start, profile="staging")
    ts = start
    for index, (users, rate, error_ratio, slow_ratio) in enumerate(stages):
        for _ in range(buckets_per_stage):
            for method, endpoint in endpoints:
                total = requests_per_bucket
                errors = round(total * error_ratio)
                answered = total
                within = answered - round(answered * slow_ratio)
                run.aggregate(
                    ts,
                    method,
                    endpoint,
                    total=total,
                    answered=answered,
                    server_errors=errors,
                    within_sla=within,
                    bucket_s=bucket_s,
                    stage={"index": index, "users": users, "rate_per_s": rate},
                )
            ts += bucket_s
    run.end(ts, exit_status=0, counts={"requests": 0})
    return run.records


def simple_run(
    n: int,
    ts: float,
    *,
    good: int,
    bad: int = 0,
    slow: int = 0,
    environment: str = "production",
    endpoint: tuple[str, str] = ("GET", "/scenes"),
) -> list[dict]:
    """One probe run on one endpoint: ``good`` fast 200s, ``slow`` slow 200s, ``bad`` 503s,
    and one outcome (failed when any request failed)."""
    run = RunBuilder(run_id(n), environment=environment).start(ts)
    method, path = endpoint
    for i in range(good):
        run.sample(ts + i * 0.001, method, path, 200, 20.0)
    for i in range(slow):
        run.sample(ts + i * 0.001, method, path, 200, 450.0)
    for i in range(bad):
        run.sample(ts + i * 0.001, method, path, 503, 5.0)
    run.outcome(
        ts + 1,
        f"probes/test_contract.py::test_answers[{method} {path}]",
        "failed" if bad else "passed",
        "contract",
        path,
        method,
        reason=f"{bad} x 503 from {path}" if bad else None,
    )
    return run.end(ts + 2).records
