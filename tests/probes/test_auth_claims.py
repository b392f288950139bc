"""Claim rules are probed only where the profile states them, and then they catch their fault.

The contract sets no issuer, audience or maximum-lifetime rule, so a server
that never uses `iss` must pass the auth family when its profile states none
(the claim probes skip, saying why), and a profile that does state a rule
must catch the server that mints the claim but never checks it. Each run is
the probes as a user runs them, against a reference server started apart
(an external target, with its token and secret files).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import ProbeRun, refserver, run_probes

pytestmark = pytest.mark.integration

AUDIENCE = "vr-clients"
LIFETIME_S = 3600
PROTECTED_ROUTES = 9  # the contract's protected endpoint-methods, each probed with each variant

REASONS = {
    "wrong-issuer": "the profile states no auth.issuer; the contract sets no issuer rule",
    "wrong-audience": "the profile states no auth.audience; the contract sets no audience rule",
    "over-lifetime": (
        "the profile states no auth.max_lifetime_s; the contract sets no maximum-lifetime rule"
    ),
}


def _probe_auth(tmp_path: Path, server_args: list[str], auth: dict[str, object]) -> ProbeRun:
    """The auth family against `python -m refserver *server_args`, judged with profile `auth`."""
    profile = tmp_path / "profile.yaml"
    document = {
        "name": "claims",
        "environment": "local",
        "rate_limit": {"rate_per_second": 100, "burst": 100},
        "scenes": ["res://vr_main.tscn", "res://scenes/lobby.tscn"],
        **({"auth": auth} if auth else {}),
    }
    profile.write_text(yaml.safe_dump(document))
    with refserver(tmp_path / "server", "--rate", "100", "--burst", "100", *server_args) as server:
        return run_probes(
            tmp_path / "out",
            f"--st-target={server.base_url}",
            f"--st-token-file={server.token_file}",
            f"--st-secret-file={server.secret_file}",
            f"--st-profile={profile}",
            "-k", "test_auth",
        )  # fmt: skip


def _by_variant(run: ProbeRun) -> dict[str, set[str]]:
    """Each bad-credentials variant and the outcomes it had across the routes."""
    outcomes: dict[str, set[str]] = {}
    for probe, outcome in run.outcomes().items():
        if "test_bad_credentials_get_401[" in probe:
            # "...[GET/jobs-wrong-issuer]" -> "wrong-issuer" (route ids hold no dash)
            variant = probe.split("[", 1)[1].removesuffix("]").split("-", 1)[1]
            outcomes.setdefault(variant, set()).add(outcome)
    return outcomes


def _reasons(run: ProbeRun, variant: str) -> set[str]:
    return {
        r["reason"]
        for r in run.records
        if r["kind"] == "outcome" and r["probe"].endswith(f"-{variant}]")
    }


def test_issuerless_server_passes_when_the_profile_states_no_issuer(tmp_path: Path) -> None:
    """The issue's target: no `iss` at all. The contract's rules still run; claim probes skip."""
    run = _probe_auth(tmp_path, ["--no-issuer"], {})
    assert run.returncode == 0, run.output[-3000:]
    assert run.failing_probes() == []
    variants = _by_variant(run)
    for variant, reason in REASONS.items():
        assert variants[variant] == {"skipped"}
        assert _reasons(run, variant) == {reason}
        skipped = [p for p in run.outcomes() if p.endswith(f"-{variant}]")]
        assert len(skipped) == PROTECTED_ROUTES  # one per route, none dropped
    # Everything the contract states was sent and passed, forged ones included.
    for variant in ("expired", "not-yet-valid", "alg-hs512", "alg-none-lower", "truncated"):
        assert variants[variant] == {"passed"}, variant
    forged = [o for p, o in run.outcomes().items() if "test_forged_token_gets_2xx" in p]
    assert forged == ["passed"] * PROTECTED_ROUTES


def test_stating_an_issuer_the_server_ignores_fails_wrong_issuer(tmp_path: Path) -> None:
    """The same server judged by a profile that states an issuer: exactly wrong-issuer fails."""
    run = _probe_auth(tmp_path, ["--no-issuer"], {"issuer": "spacetime"})
    assert run.returncode == 1
    failing = {p.split("::", 1)[1] for p in run.failing_probes()}
    assert len(failing) == PROTECTED_ROUTES
    assert all(p.endswith("-wrong-issuer]") for p in failing), failing


def test_every_stated_rule_passes_on_the_server_that_enforces_it(tmp_path: Path) -> None:
    server_args = ["--audience", AUDIENCE, "--max-token-lifetime", str(LIFETIME_S)]
    auth = {"issuer": "spacetime", "audience": AUDIENCE, "max_lifetime_s": LIFETIME_S}
    run = _probe_auth(tmp_path, server_args, auth)
    assert run.returncode == 0, run.output[-3000:]
    variants = _by_variant(run)
    for variant in REASONS:
        assert variants[variant] == {"passed"}, variant
    assert set().union(*variants.values()) == {"passed"}


@pytest.mark.parametrize(
    ("server_args", "auth", "variant"),
    [
        (["--fault", "auth-ignore-issuer"], {"issuer": "spacetime"}, "wrong-issuer"),
        (
            ["--audience", AUDIENCE, "--fault", "auth-ignore-audience"],
            {"audience": AUDIENCE},
            "wrong-audience",
        ),
        (
            ["--max-token-lifetime", str(LIFETIME_S), "--fault", "auth-ignore-lifetime"],
            {"max_lifetime_s": LIFETIME_S},
            "over-lifetime",
        ),
    ],
    ids=["issuer", "audience", "lifetime"],
)
def test_a_stated_rule_catches_the_server_that_ignores_it(
    tmp_path: Path, server_args: list[str], auth: dict[str, object], variant: str
) -> None:
    run = _probe_auth(tmp_path, server_args, auth)
    assert run.returncode == 1, run.output[-3000:]
    failing = {p.split("::", 1)[1] for p in run.failing_probes()}
    assert len(failing) == PROTECTED_ROUTES, failing
    assert all(p.endswith(f"-{variant}]") for p in failing), failing
    reason = next(iter(_reasons(run, variant)))
    assert f"with {variant} credentials: expected 401, got 2" in reason


def test_forged_control_fails_when_the_stated_issuer_is_not_the_servers(tmp_path: Path) -> None:
    """Stated `spacetime`, served `elsewhere`: every forged 401 is vacuous; the control says so."""
    run = _probe_auth(tmp_path, ["--issuer", "elsewhere"], {"issuer": "spacetime"})
    assert run.returncode == 1
    failing = {p.split("::", 1)[1].split("[", 1)[0] for p in run.failing_probes()}
    assert failing == {"test_forged_token_gets_2xx"}
