"""The probes' pure cores (verdicts, statistics, plans, payloads) read no clock and no file.

They take `now` or an injected clock from their callers (the pacer and the latency
dispatcher hold the real clock as an injectable default), so their unit tests need
neither sleeps nor a server.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import CLOCK_AND_FILE_CALLS

import probes

ROOT = Path(probes.__file__).parent
PURE = (
    "stats", "checks", "plan", "budget", "thresholds", "schemas", "healthdoc", "outcomes",
    *(f"payloads/{p.stem}" for p in sorted((ROOT / "payloads").glob("*.py"))
      if p.stem != "__init__"),
)  # fmt: skip


@pytest.mark.parametrize("name", PURE)
def test_pure_probe_modules_do_not_read_the_clock_or_files(name: str) -> None:
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert called not in CLOCK_AND_FILE_CALLS, f"probes/{name}.py:{node.lineno} {called}()"
