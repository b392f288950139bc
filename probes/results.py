"""The JSON Lines results file (docs/results-format.md), written as the run goes.

Several pytest processes (xdist workers and the controller) append to one
file: each line is written under an exclusive lock with the next sequence
number, and flushed, so a killed run keeps every complete line. A failed
write (full disk) is remembered, not raised: the run is then marked failed
with one line, and what was written stays readable.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

SCHEMA = "spacetime-probes/results/1"


def new_run_id() -> str:
    return uuid.uuid4().hex


class ResultsWriter:
    def __init__(
        self,
        path: Path,
        *,
        run_id: str,
        target: str,
        environment: str,
        source: str = "probe",
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.common = {"source": source, "target": target, "environment": environment}
        self.error: str | None = None
        self._seq_path = path.with_name(f".{path.name}.{run_id}.seq")

    def prepare(self) -> None:
        """Create the directory; called once by the process that owns the run."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(exist_ok=True)
        except OSError as exc:
            self.error = f"cannot write results to {self.path}: {exc.strerror or exc}"

    def write(self, kind: str, fields: dict[str, Any]) -> None:
        if self.error is not None:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                seq = self._next_seq()
                record = {
                    "schema": SCHEMA,
                    "kind": kind,
                    "run_id": self.run_id,
                    "seq": seq,
                    **self.common,
                    **fields,
                }
                handle.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
                handle.flush()
                if kind == "run":
                    os.fsync(handle.fileno())
        except OSError as exc:
            self.error = f"cannot write results to {self.path}: {exc.strerror or exc}"

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            self._seq_path.unlink(missing_ok=True)

    def _next_seq(self) -> int:
        """Called under the results file's lock, so the counter is shared safely."""
        fd = os.open(self._seq_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            raw = os.read(fd, 32)
            seq = int(raw) if raw.strip() else 0
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, str(seq + 1).encode())
            return seq
        finally:
            os.close(fd)


@functools.cache  # one git call per process, however many records carry it
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
