"""Fixtures for the SLO module's self-tests: results files built from the documented
format (``slo.synth``), a ledger, and an in-process CLI runner."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from slo import synth
from slo.cli import main

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: every test judges at a fixed instant


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``slo ...`` in-process; returns exit code and captured output."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_results(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts) as a JSON Lines results file under ``tmp_path``."""

    def write(records: Iterable[dict], name: str = "results.jsonl") -> Path:
        path = tmp_path / name
        path.write_text(synth.dumps(records), encoding="utf-8")
        return path

    return write


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


def steady_run(
    n: int,
    ts: float,
    *,
    good: int,
    bad: int = 0,
    slow: int = 0,
    environment: str = "production",
    endpoint: tuple[str, str] = ("GET", "/scenes"),
) -> list[dict]:
    """One probe run: ``good`` fast 200s, ``slow`` slow 200s and ``bad`` 503s."""
    run = synth.RunBuilder(synth.run_id(n), environment=environment).start(ts)
    method, path = endpoint
    for i in range(good):
        run.sample(ts + i * 0.001, method, path, 200, 20.0)
    for i in range(slow):
        run.sample(ts + i * 0.001, method, path, 200, 450.0)
    for i in range(bad):
        run.sample(ts + i * 0.001, method, path, 503, 5.0)
    run.outcome(ts + 1, "probes/test_contract.py::test_scenes", "passed" if not bad else "failed",
                "contract", path, method, reason=None if not bad else "503 from /scenes")  # fmt: skip
    return run.end(ts + 2).records


@pytest.fixture
def steady() -> Callable[..., list[dict]]:
    return steady_run
