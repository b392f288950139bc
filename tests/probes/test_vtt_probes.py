"""The probe suite against the VTT mode, as a user runs it: `pytest probes --st-profile vtt`
passes on the conforming server, an honest outage fails only the service-health probe,
and the SpaceTime default is untouched. That each VTT fault fails the very probes built
for it is asserted by the fault matrix (tests/test_fault_matrix.py, PROBES_BUILT_FOR)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import refserver, run_probes

pytestmark = pytest.mark.integration

VTT_FAMILIES = {"auth", "rate_limit", "latency", "contract", "health_api", "metrics"}


@pytest.fixture(scope="module")
def vtt_run(tmp_path_factory: pytest.TempPathFactory):
    return run_probes(tmp_path_factory.mktemp("vtt"), "--st-profile=vtt")


def test_vtt_profile_passes_on_the_conforming_server(vtt_run) -> None:
    assert vtt_run.returncode == 0, vtt_run.output[-4000:]
    outcomes = [r for r in vtt_run.records if r["kind"] == "outcome"]
    passed = {r["family"] for r in outcomes if r["outcome"] == "passed"}
    assert passed == VTT_FAMILIES
    assert not [r for r in outcomes if r["outcome"] in {"failed", "error"}]
    for family in ("traversal", "health", "performance"):
        reasons = {r["reason"] for r in outcomes if r["family"] == family}
        assert reasons == {
            f"family {family} not in profile vtt's families "
            "(auth, rate_limit, latency, contract, health_api, metrics, tls)"
        }
    assert "Traceback" not in vtt_run.output


def test_vtt_run_sends_nothing_spacetime_specific(vtt_run) -> None:
    samples = [r for r in vtt_run.records if r["kind"] == "sample"]
    assert samples and all(r["endpoint"].startswith("/api/") or "no-such-route" in r["endpoint"]
                           for r in samples)  # fmt: skip
    assert {r["family"] for r in samples} <= VTT_FAMILIES | {"preflight"}


def test_spacetime_default_skips_the_new_families(tmp_path: Path) -> None:
    run = run_probes(tmp_path, "-k", "test_contract or test_metrics or test_health_api")
    assert run.returncode == 0, run.output[-3000:]
    by_family: dict[str, set[str]] = {}
    for record in run.records:
        if record["kind"] == "outcome":
            by_family.setdefault(record["family"], set()).add(record["outcome"])
    assert by_family == {"contract": {"passed"}, "metrics": {"skipped"},
                         "health_api": {"skipped"}}  # fmt: skip
    reasons = {r["reason"] for r in run.records if r["kind"] == "outcome" and r["reason"]}
    assert "profile embedded names no metrics endpoint (metrics.path)" in reasons


@pytest.mark.parametrize(("check", "status"), [("database", "unhealthy"), ("memory", "degraded")])
def test_an_honest_outage_fails_only_the_service_health_probe(
    check: str, status: str, tmp_path: Path
) -> None:
    """Unhealthy but truthful: 503s, not ready, still alive; only test_service_healthy fails."""
    with refserver(tmp_path / "server", "--mode", "vtt", "--vtt-failing-check", check,
                   "--rate", "50", "--burst", "100") as server:  # fmt: skip
        run = run_probes(
            tmp_path / "out",
            f"--st-target={server.base_url}",
            f"--st-token-file={server.token_file}",
            "--st-profile=vtt",
            "-k",
            "test_health_api",
        )
    assert run.failing_probes() == ["probes/test_health_api.py::test_service_healthy"]
    reason = next(
        r["reason"] for r in run.records if r["kind"] == "outcome" and r["outcome"] == "failed"
    )
    assert f"service {status}" in reason and check in reason
