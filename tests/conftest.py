"""Self-test fixtures and the fault-matrix summary; helpers live in tests/support.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability.report import write_tables
from support import SELF_TEST_REPORTS, ProbeRun, render_fault_table, run_probes


@pytest.fixture
def probes_runner(tmp_path: Path) -> Callable[..., ProbeRun]:
    def run(*args: str, out: Path | None = None, **kwargs: object) -> ProbeRun:
        return run_probes(out or tmp_path / "reports", *args, **kwargs)  # type: ignore[arg-type]

    return run


_SESSION_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the self-test tables this session wrote (from any xdist worker)."""
    _print_fault_matrix(terminalreporter)
    for title, table in write_tables(SELF_TEST_REPORTS, _SESSION_STARTED):
        terminalreporter.write_sep("=", title)
        for line in table.splitlines():
            terminalreporter.write_line(line)


def _print_fault_matrix(terminalreporter: pytest.TerminalReporter) -> None:
    rows_dir = SELF_TEST_REPORTS / "fault-matrix"
    rows = [
        path
        for path in (sorted(rows_dir.glob("*.json")) if rows_dir.exists() else [])
        if path.stat().st_mtime >= _SESSION_STARTED
    ]
    if not rows:
        return
    table = render_fault_table([json.loads(p.read_text()) for p in rows])
    (SELF_TEST_REPORTS / "fault-matrix.md").write_text(table + "\n")
    terminalreporter.write_sep("=", "fault matrix (fault -> failing probes)")
    for line in table.splitlines():
        terminalreporter.write_line(line)
