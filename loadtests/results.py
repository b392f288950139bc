"""The load run's results file (docs/results-format.md, schema `spacetime-probes/results/1`).

Record builders are pure (a dict from values); `ResultsWriter` only appends
lines and flushes each, so a killed run leaves every complete line readable
and the SLO module can ingest it. Only the process holding the merged
histograms (master, or the single local process) writes.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from loadtests.latency import ClosedBucket

SCHEMA = "spacetime-probes/results/1"
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


def _common(info: RunInfo, seq: int, kind: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": kind,
        "run_id": info.run_id,
        "seq": seq,
        "source": SOURCE,
        "target": info.target,
        "environment": info.environment,
    }


def run_record(
    info: RunInfo,
    seq: int,
    *,
    phase: str,
    ts: float,
    exit_status: int | None = None,
    requests: int | None = None,
) -> dict[str, Any]:
    record = _common(info, seq, "run")
    record.update(
        phase=phase,
        ts=ts,
        profile=info.profile,
        commit=info.commit,
        exit_status=exit_status if phase == "end" else None,
        counts={"requests": requests} if phase == "end" and requests is not None else None,
    )
    return record


def aggregate_record(
    info: RunInfo,
    seq: int,
    bucket: ClosedBucket,
    *,
    stage: dict[str, Any] | None,
    sla_ms: float,
) -> dict[str, Any]:
    tally = bucket.tally
    record = _common(info, seq, "aggregate")
    record.update(
        ts=bucket.start_s,
        bucket_s=bucket.bucket_s,
        endpoint=bucket.endpoint,
        method=bucket.method,
        stage=stage,
        total=tally.total,
        answered=tally.answered,
        server_errors=tally.server_errors,
        rate_limited=tally.rate_limited,
        within_sla=tally.within_sla,
        sla_ms=sla_ms,
        hdr=bucket.hdr,
    )
    return record


class ResultsWriter:
    """Appends records to one JSON Lines file, numbering them, flushing each line."""

    def __init__(self, path: Path, info: RunInfo) -> None:
        self.path = path
        self.info = info
        self._seq = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def _next_seq(self) -> int:
        seq, self._seq = self._seq, self._seq + 1
        return seq

    def start(self, ts: float) -> None:
        self._write(run_record(self.info, self._next_seq(), phase="start", ts=ts))

    def aggregate(self, bucket: ClosedBucket, stage: dict[str, Any] | None, sla_ms: float) -> None:
        self._write(
            aggregate_record(self.info, self._next_seq(), bucket, stage=stage, sla_ms=sla_ms)
        )

    def end(self, ts: float, exit_status: int, requests: int) -> None:
        self._write(
            run_record(
                self.info,
                self._next_seq(),
                phase="end",
                ts=ts,
                exit_status=exit_status,
                requests=requests,
            )
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def suite_commit(repo: Path) -> str | None:
    """CI_COMMIT_SHA, else the suite's git HEAD, else None (never fails the run)."""
    if sha := os.environ.get("CI_COMMIT_SHA"):
        return sha
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None
