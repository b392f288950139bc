"""The progress line a person watching a run sees: per family, requests sent of planned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import run_probes

pytestmark = pytest.mark.integration


def test_each_family_says_how_many_requests_it_sent_of_its_plan(tmp_path: Path) -> None:
    run = run_probes(
        tmp_path / "out", "-k", "test_health and not test_health_api", "-p", "no:xdist"
    )
    assert run.returncode == 0, run.output[-3000:]
    line = re.search(r"spacetime-probes: health done \(3 probes, (\d+) requests sent of (\S+) "
                     r"planned\); 1 of 1 families", run.output)  # fmt: skip
    assert line is not None, run.output[-3000:]
    samples = [r for r in run.records if r["kind"] == "sample" and r["family"] == "health"]
    assert int(line.group(1)) == len(samples) == 3 and line.group(2) == "3"
