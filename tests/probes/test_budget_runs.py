"""A budgeted run as a scheduled job runs it: its slice, what it left, and the next slot's.

Against the embedded server with a profile of 2 r/s (paced 1.96 r/s), a 3 s
budget buys 5 requests: the contract family's two plain probes take 2, so
each run sends 3 of the 10 per-endpoint shape probes (4 slices) and says so,
and the next slot sends 3 others.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import ProbeRun, run_probes

pytestmark = pytest.mark.integration


def _slot(tmp_path: Path, slot: int) -> ProbeRun:
    profile = tmp_path / "slow.yaml"
    profile.write_text(
        yaml.safe_dump(
            {
                "name": "slow",
                "environment": "local",
                "rate_limit": {"rate_per_second": 2, "burst": 4},
                "scenes": ["res://vr_main.tscn"],
            }
        )
    )
    return run_probes(
        tmp_path / f"slot{slot}",
        f"--st-profile={profile}",
        "--st-budget=3",
        f"--st-slot={slot}",
        selection=("probes/test_contract.py",),
        timeout=120,
    )


def _coverage(run: ProbeRun) -> dict:
    (end,) = [r for r in run.records if r["kind"] == "run" and r["phase"] == "end"]
    return end["coverage"]


def _sent(run: ProbeRun) -> set[str]:
    return {r["probe"] for r in run.records if r["kind"] == "outcome"}


def test_successive_slots_send_different_slices_and_say_what_they_left(tmp_path: Path) -> None:
    first, second = _slot(tmp_path, 0), _slot(tmp_path, 1)
    for run in (first, second):
        assert run.returncode == 0, run.output[-3000:]
        assert "spacetime-probes budget 3 s at 1.96 r/s: slot" in run.output
    one, two = _coverage(first), _coverage(second)
    assert (one["slice"], two["slice"]) == (0, 1) and one["slices"] == two["slices"] == 4
    shapes = {p for p in _sent(first) | _sent(second) if "test_response_shape" in p}
    assert len(_sent(first)) == len(_sent(second)) == 5  # 2 plain + 3 of the matrix
    assert len(shapes) == 6  # the two slots sent different shape probes
    every = set(one["left"]) | (_sent(first) & shapes)
    assert len(every) == 10 and set(two["left"]) | (_sent(second) & shapes) == every
