"""The probes' pure cores (verdicts, statistics, plans, payloads) read no clock and no file.

They take `now` or an injected clock from their callers (the pacer and the latency
dispatcher hold the real clock as an injectable default), so their unit tests need
neither sleeps nor a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import clock_and_file_calls

import probes

ROOT = Path(probes.__file__).parent
PURE = (
    "stats", "checks", "plan", "budget", "thresholds", "schemas", "healthdoc", "outcomes",
    *(f"payloads/{p.stem}" for p in sorted((ROOT / "payloads").glob("*.py"))
      if p.stem != "__init__"),
)  # fmt: skip


@pytest.mark.parametrize("name", PURE)
def test_pure_probe_modules_do_not_read_the_clock_or_files(name: str) -> None:
    assert clock_and_file_calls(ROOT / f"{name}.py") == [], f"probes/{name}.py"
