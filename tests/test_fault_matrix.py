"""Every named fault of the reference server is caught by the probe family built for it.

Per fault, the family built for it runs alone, with the command line a user types,
inside this process (`support.run_probes_here`: `pytest.main`, so no interpreter
start-up or plugin imports per fault; 195 -> 172 s for the 91 faults on two
workers) against the embedded server with that fault (its own process, as a
user's is), and the whole expected set is asserted: the run exits 1, its failing
families are exactly that family, and where the catching probes are named
(PROBES_BUILT_FOR) they are among the failures. The row (fault, failing families,
failing probes) is kept under reports/self-test/fault-matrix/ and printed at the end
of the self-test session.

The full cross-family run per fault (every family against every fault, which
shows the collateral failures) is opt-in, for the GitLab schedule:
`SPACETIME_FULL_FAULT_MATRIX=1 pytest tests/test_fault_matrix.py`. It takes
about half an hour on two cores; the per-family matrix takes a few minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import ROOT, SELF_TEST_REPORTS, run_probes_here


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


# The faults whose catching probes are named (the VTT mode's): these probes must be
# among the failures, beyond the family.
PROBES_BUILT_FOR = {
    "vtt-ready-200-when-unhealthy": {"test_readiness_follows_critical_checks"},
    "vtt-live-fails-on-critical": {"test_liveness_ignores_dependencies"},
    "vtt-status-inconsistent": {"test_status_consistent_with_checks"},
    "vtt-unhealthy-200": {"test_health_status_code"},
    "vtt-health-slow": {"test_response_time[health]", "test_reported_check_times"},
    "vtt-schema-missing-version": {"test_health_schema"},
    "metrics-not-prometheus-text": {"test_exposition_is_prometheus_text"},
    "metrics-counter-reset": {"test_counters_only_grow"},
    "metrics-missing-family": {"test_required_families"},
    "metrics-histogram-no-inf": {"test_histograms_have_le_buckets"},
    "metrics-high-5xx": {"test_error_ratio"},
    "metrics-slow-p95": {"test_p95_latency"},
}


def test_every_vtt_fault_names_its_probes() -> None:
    assert set(PROBES_BUILT_FOR) == {fault for fault, _, mode in FAULTS if mode == "vtt"}


FULL = os.environ.get("SPACETIME_FULL_FAULT_MATRIX", "") in {"1", "true", "yes"}


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(("fault", "family", "mode"), FAULTS, ids=[f for f, _, _ in FAULTS])
def test_fault_is_caught_by_its_family(fault: str, family: str, mode: str, tmp_path) -> None:
    selection = ("probes",) if FULL else (f"probes/test_{family}.py",)
    run = run_probes_here(
        tmp_path,
        f"--st-embedded-fault={fault}",
        *PROFILE_FOR_MODE[mode],
        selection=selection,
    )
    failing = run.failing_families()
    row = {
        "fault": fault,
        "family": family,
        "caught": family in failing,
        "exit_status": run.returncode,
        "ran": "all families" if FULL else family,
        "failing_families": sorted(failing),
        "failing_probes": run.failing_probes(),
    }
    rows = SELF_TEST_REPORTS / "fault-matrix"
    rows.mkdir(parents=True, exist_ok=True)
    (rows / f"{fault}.json").write_text(json.dumps(row, indent=1))
    assert run.returncode == 1, f"{fault}: pytest exit {run.returncode}\n{run.output[-3000:]}"
    if FULL:
        assert family in failing, f"{fault} not caught by {family}; failing: {sorted(failing)}"
    else:
        assert failing == {family}, f"{fault}: expected {family} to fail; failing: {failing}"
    probes = {probe.split("::", 1)[1] for probe in run.failing_probes()}
    assert PROBES_BUILT_FOR.get(fault, set()) <= probes, (fault, sorted(probes))
