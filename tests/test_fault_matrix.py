"""Every named fault of the reference server is caught by the probe family built for it.

One full probe run per fault, as a user runs it; the row (fault, failing
families, failing probes) is kept under reports/self-test/fault-matrix/ and
printed as a table at the end of the self-test session.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT, SELF_TEST_REPORTS, run_probes


def _faults() -> list[tuple[str, str, str]]:
    """(fault, family, server mode); the mode is the 4th column, `spacetime` if absent."""
    listing = subprocess.run(
        [sys.executable, "-m", "refserver", "--list-faults"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    rows = [line.split("\t") for line in listing.stdout.splitlines() if line.strip()]
    return [(row[0], row[1], row[3] if len(row) > 3 else "spacetime") for row in rows]


# The built-in profile whose embedded server runs in each mode.
PROFILE_FOR_MODE = {"spacetime": [], "vtt": ["--st-profile=vtt"]}


FAULTS = _faults()


def test_catalogue_covers_every_family_four_times() -> None:
    families: dict[str, int] = {}
    for _, family, _ in FAULTS:
        families[family] = families.get(family, 0) + 1
    expected = {"auth", "rate_limit", "latency", "traversal", "contract", "health", "performance",
                "health_api", "metrics"}  # fmt: skip
    assert set(families) == expected
    assert all(count >= 4 for count in families.values()), families


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(("fault", "family", "mode"), FAULTS, ids=[f for f, _, _ in FAULTS])
def test_fault_is_caught_by_its_family(fault: str, family: str, mode: str, tmp_path) -> None:
    run = run_probes(
        tmp_path, f"--st-embedded-fault={fault}", "--st-examples=5", *PROFILE_FOR_MODE[mode]
    )
    failing = run.failing_families()
    row = {
        "fault": fault,
        "family": family,
        "caught": family in failing,
        "exit_status": run.returncode,
        "failing_families": sorted(failing),
        "failing_probes": run.failing_probes(),
    }
    rows = SELF_TEST_REPORTS / "fault-matrix"
    rows.mkdir(parents=True, exist_ok=True)
    (rows / f"{fault}.json").write_text(json.dumps(row, indent=1))
    assert run.returncode == 1, f"{fault}: pytest exit {run.returncode}\n{run.output[-3000:]}"
    assert family in failing, f"{fault} not caught by {family}; failing: {sorted(failing)}"
