"""The lists kept apart on purpose agree: families and the contract's endpoints.

The probes own the list of families (`probes.profile.Family`: one module each)
and the contract's endpoints (`CONTRACT_ENDPOINTS`). Two other places keep
their own copy deliberately: the reference server (`refserver/app.py`
API_ROUTES, `refserver/faults.py` FAMILIES) is the independent oracle and
must not import the probes, and the SLO module's synthetic records
(`slo/synth.py`) are built from docs/results-format.md, not from the probes'
code. This test is what keeps the copies from drifting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from probes.profile import CONTRACT_ENDPOINTS, FAMILY_NAMES, SPACETIME_FAMILIES
from refserver.app import API_ROUTES
from refserver.faults import FAMILIES as FAULT_FAMILIES
from slo import synth

ROOT = Path(__file__).resolve().parents[1]


def test_every_family_has_its_module_and_every_module_its_family() -> None:
    modules = {p.stem.removeprefix("test_") for p in (ROOT / "probes").glob("test_*.py")}
    assert modules == set(FAMILY_NAMES)


def test_the_reference_server_faults_name_probe_families() -> None:
    # Every family but tls (its faults are certificates the tests make, not server modes).
    assert set(FAULT_FAMILIES) == set(FAMILY_NAMES) - {"tls"}


def test_the_synthetic_records_use_the_probes_names() -> None:
    assert set(synth.FAMILIES) <= set(SPACETIME_FAMILIES)
    assert set(synth.ENDPOINTS) == {(e.method, e.path) for e in CONTRACT_ENDPOINTS}


def test_the_oracle_serves_exactly_the_contract_endpoints() -> None:
    assert set(API_ROUTES) == {(e.method, e.path) for e in CONTRACT_ENDPOINTS}


def test_no_marker_repeats_the_family_list() -> None:
    """The family is the module (probes/reporting.py family_of); a marker would be a copy."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    assert not [m for m in markers if m.startswith("family(")]
