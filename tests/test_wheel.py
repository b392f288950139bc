"""The built wheel, installed into a new virtual environment outside the repository, runs
the main job and the SLO report with only what it carries.

A checkout hides what the package forgot: data files read from the tree, imports
satisfied by the machine's site-packages, a plugin loaded by the root conftest.
Here nothing of the repository is on the path: the environment is created
without system site-packages, the commands run from an empty directory, and the
probes find their plugin through the `pytest11` entry point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# What the installed package must carry, read back through the package's own loaders.
CARRIED = """
import probes, slo, loadtests, refserver
from probes import profile
from slo.spec import default_spec_path
from loadtests.stages import load_tables
for name in profile.BUILTIN_PROFILES:
    profile.builtin(name)
assert default_spec_path().is_file(), default_spec_path()
assert (default_spec_path().parent / "spacetime-openslo.yaml").is_file()
assert load_tables(), "no stage tables"
print(probes.__file__)
"""


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "PYTEST_", "PYTHON"))}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_wheel_runs_the_main_job_from_any_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                 tmp_path, 600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = dist.glob("spacetime_probes-*.whl")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, 120)
    assert made.returncode == 0, made.stderr
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    installed = _run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        tmp_path,
        900,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    carried = _run([str(python), "-c", CARRIED], elsewhere, 120)
    assert carried.returncode == 0, carried.stderr[-3000:]
    assert Path(carried.stdout.strip()).is_relative_to(venv), carried.stdout  # not the checkout

    job = _run([str(bin_dir / "spacetime-probes"), "-q", "-p", "no:randomly"], elsewhere, 600)
    assert job.returncode == 0, (job.stdout + job.stderr)[-4000:]
    results = elsewhere / "reports" / "results.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines()]
    outcomes = [r for r in records if r["kind"] == "outcome"]
    assert {r["family"] for r in outcomes if r["outcome"] == "passed"} >= {
        "auth", "rate_limit", "latency", "traversal", "contract", "health", "performance",
    }  # fmt: skip
    assert (elsewhere / "reports" / "junit.xml").is_file()
    assert any((elsewhere / "reports" / "allure-results").glob("*-result.json"))

    ledger = elsewhere / "ledger.sqlite"
    ingest = _run([str(bin_dir / "slo"), "ingest", str(results), "--ledger", str(ledger)],
                  elsewhere, 120)  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr
    report = _run(
        [str(bin_dir / "slo"), "report", "--ledger", str(ledger), "--environment", "local",
         "--out-dir", str(elsewhere / "slo"), "--format", "md,json,html"],
        elsewhere, 120,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert (elsewhere / "slo" / "slo-report.html").is_file()
