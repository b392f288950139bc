"""The load run's records in the results file (docs/results-format.md).

The file, its schema, sequence numbers, locking and flushing are the probes'
writer's (`probes.results.ResultsWriter`, with `source: "load"`): one writer
for both sides of the SLO module's input. This module only says what a load
run writes: the field builders are pure (a dict from values), and
`LoadResults` hands them to the writer. Only the process holding the merged
histograms (master, or the single local process) writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from loadtests.latency import ClosedBucket
from probes.results import ResultsWriter

SOURCE = "load"
DEFAULT_PATH = Path("reports/load-results.jsonl")


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    target: str
    environment: str
    profile: str
    commit: str | None


def without_credentials(url: str) -> str:
    """The base URL with any user:password@ removed and no trailing slash."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def run_fields(
    info: RunInfo,
    *,
    phase: str,
    ts: float,
    exit_status: int | None = None,
    requests: int | None = None,
) -> dict[str, Any]:
    """A `run` record's own fields (the writer adds the common ones)."""
    end = phase == "end"
    return {
        "phase": phase,
        "ts": ts,
        "profile": info.profile,
        "commit": info.commit,
        "exit_status": exit_status if end else None,
        "counts": {"requests": requests} if end and requests is not None else None,
    }


def aggregate_fields(
    bucket: ClosedBucket, *, stage: dict[str, Any] | None, sla_ms: float
) -> dict[str, Any]:
    """An `aggregate` record's own fields: one endpoint, one bucket."""
    tally = bucket.tally
    return {
        "ts": bucket.start_s,
        "bucket_s": bucket.bucket_s,
        "endpoint": bucket.endpoint,
        "method": bucket.method,
        "stage": stage,
        "total": tally.total,
        "answered": tally.answered,
        "server_errors": tally.server_errors,
        "rate_limited": tally.rate_limited,
        "within_sla": tally.within_sla,
        "sla_ms": sla_ms,
        "hdr": bucket.hdr,
    }


class LoadResults:
    """A load run's records, through the shared writer. A failed write is remembered
    in `error` (the run then ends with exit status 3), never raised."""

    def __init__(self, path: Path, info: RunInfo) -> None:
        self.path = path
        self.info = info
        self._writer = ResultsWriter(
            path,
            run_id=info.run_id,
            target=info.target,
            environment=info.environment,
            source=SOURCE,
        )
        self._writer.prepare()

    @property
    def error(self) -> str | None:
        return self._writer.error

    def start(self, ts: float) -> None:
        self._writer.write("run", run_fields(self.info, phase="start", ts=ts))

    def aggregate(self, bucket: ClosedBucket, stage: dict[str, Any] | None, sla_ms: float) -> None:
        self._writer.write("aggregate", aggregate_fields(bucket, stage=stage, sla_ms=sla_ms))

    def end(self, ts: float, exit_status: int, requests: int) -> None:
        fields = run_fields(
            self.info, phase="end", ts=ts, exit_status=exit_status, requests=requests
        )
        self._writer.write("run", fields)

    def close(self) -> None:
        self._writer.finish()
