"""Self-test fixtures and the fault-matrix summary; helpers live in tests/support.py."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from reliability.report import write_tables
from support import SELF_TEST_REPORTS, pushgateway_at, render_fault_table

# Modules whose tests share one costly module fixture (a whole probe run of 20-25 s):
# each runs on one xdist worker, so the fixture is built once, not once per worker.
SHARED_FIXTURE_MODULES = frozenset({"tests/test_suite.py", "tests/probes/test_vtt_probes.py"})
# Modules whose tests all run alone (cpu_heavy): on one worker, back to back, so the
# machine is handed over once per module, not once per test (see the lock below).
# tests/test_heavy_modules.py checks this list against the modules' pytestmark.
HEAVY_MODULES = frozenset({
    "tests/loadtests/test_locust_distributed.py", "tests/loadtests/test_locust_faults.py",
    "tests/loadtests/test_locust_progress.py", "tests/loadtests/test_locust_runs.py",
    "tests/reliability/test_refserver_load.py",
})  # fmt: skip


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each test its own unit, as `load` does, but each module listed above is one unit.

    With plain `load` the tests of a shared-fixture module are spread over both
    workers and each builds the fixture (seen on CI: two 25 s probe runs where
    one was meant). `--dist loadgroup` with marks would say it better, but
    pytest 9.2 ignores the test-id suffix xdist 3.8 groups by (pytest-xdist
    issue 1386).
    """
    from xdist.scheduler import LoadScopeScheduling

    one_worker = SHARED_FIXTURE_MODULES | HEAVY_MODULES

    class ModuleUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in one_worker else nodeid

    return ModuleUnitScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with `slow` tests first, each module kept whole (its fixtures built once).

    xdist hands out tests in this order: the long ones start early and the
    short ones fill the end, so both workers finish together instead of one
    waiting on the wheel build that happened to come last.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A `cpu_heavy` test runs alone across xdist workers; the others share the machine.

    Many self-tests expect the probes to pass on the conforming server, and the
    latency probe times a real server: a Locust run saturating a core on the
    other worker of a 2-core CI machine is what made them flap, not the code.
    Held around the whole protocol, so module and session fixtures set up or
    torn down on the item's behalf are covered too; kept from one heavy test to
    the next on the same worker, so the other worker does not squeeze a test in
    between each pair (HEAVY_MODULES keeps a module's heavy tests together).
    """
    workerinput = getattr(item.config, "workerinput", None)
    if workerinput is None:  # not under xdist: nothing runs beside us
        yield
        return
    stem = Path(tempfile.gettempdir()) / f"spacetime-selftest-{workerinput['testrunuid']}"
    heavy = item.get_closest_marker("cpu_heavy") is not None
    keep = heavy and nextitem is not None and nextitem.get_closest_marker("cpu_heavy") is not None
    if heavy and _HELD:  # the previous test was heavy too and kept the machine for us
        share = _HELD.pop()
    else:
        share = open(f"{stem}.lock", "a+")  # noqa: SIM115 (may outlive this call: _HELD)
        # The turnstile keeps a waiting heavy test from starving: once it queues,
        # no new test takes the shared lock until it has had its turn.
        with open(f"{stem}.turnstile", "a+") as turnstile:
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            try:
                fcntl.flock(share, fcntl.LOCK_EX if heavy else fcntl.LOCK_SH)
            finally:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        if keep:  # the next test on this worker is heavy: hand the machine straight on
            _HELD.append(share)
        else:
            fcntl.flock(share, fcntl.LOCK_UN)
            share.close()


# The exclusive lock a heavy test kept for the heavy test after it (at most one).
_HELD: list[IO[str]] = []


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A real Pushgateway (Debian `prometheus-pushgateway`) on loopback, with its URL."""
    if shutil.which("prometheus-pushgateway") is None:
        pytest.skip("Debian package prometheus-pushgateway is needed (scripts/bootstrap --dev)")
    with pushgateway_at(tmp_path) as url:
        yield url


_SESSION_STARTED = time.time()

# Commands the self-tests start by name (ruff, slo, locust, the CI jobs' `python`) come
# from the environment the tests run in, as if it were activated: never the machine's.
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ["PATH"]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the self-test tables this session wrote (from any xdist worker)."""
    _print_fault_matrix(terminalreporter)
    _print_group_times(terminalreporter)
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


def _print_group_times(terminalreporter: pytest.TerminalReporter) -> None:
    """Seconds spent per test group (a directory under tests/, or a top-level file).

    Summed over setup, call and teardown of every test on every xdist worker, so
    it says where the CI minutes go; with two workers the wall time is about half.
    """
    seconds: dict[str, float] = {}
    tests: dict[str, set[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid, duration = getattr(report, "nodeid", ""), getattr(report, "duration", None)
            if not nodeid or duration is None:
                continue
            parts = nodeid.split("::", 1)[0].split("/")
            group = "/".join(parts[:2]) if len(parts) > 1 else parts[0]
            seconds[group] = seconds.get(group, 0.0) + duration
            tests.setdefault(group, set()).add(nodeid)
    if not seconds:
        return
    terminalreporter.write_sep("=", "time per test group (seconds summed over workers)")
    total = sum(seconds.values())
    for group, spent in sorted(seconds.items(), key=lambda item: -item[1]):
        share = 100 * spent / total if total else 0.0
        terminalreporter.write_line(
            f"{spent:8.1f} s {share:5.1f} %  {len(tests[group]):5d} tests  {group}"
        )
    terminalreporter.write_line(f"{total:8.1f} s total")
