"""The verifier attacks as a user runs them: one route, skips with reasons, and no token leaked.

Against a reference server started apart (an external target with its
token and secret files), judged by the embedded profile: the attacks go to
one route only; without the secret the cases that need it show as skipped
with the reason; and against faults that make the credential-carrying cases
fail (a forged token accepted from the query string and from cookies, a
duplicate header, a padded or standard-alphabet token, an embedded key),
every file the run writes and everything it prints is scanned for the
token, its segments, the secret, the forged token and any JWT shape.
The suite's own secrets scan (tests/reliability/test_zz_secrets.py) selects
routes other than the one these cases use, so this is their scan.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import ProbeRun, refserver, run_probes

from probes.payloads.jwt_attacks import TRANSPORT_JTI, attacker_rsa_key, verifier_attacks

pytestmark = pytest.mark.integration

SECRET = "st-verifier-attacks-secret-5d1c9e3b7a2f4e6081c3b5d7f9a1e3c5"
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
# The server enforces what the embedded profile states (limits and claim rules).
SERVER_ARGS = ("--rate", "100", "--burst", "100", "--audience", "spacetime-api",
               "--max-token-lifetime", "86400")  # fmt: skip
LEAKY_FAULTS = {
    "auth-token-in-query": {"query-access_token", "query-token", "query-jwt",
                            "cookie-access_token", "cookie-token", "cookie-jwt"},
    "auth-first-authorization-header": {"duplicate-header-valid-first"},
    "auth-lax-base64": {"b64-padded-signature", "b64-standard-alphabet"},
    "auth-trust-jwk": {"jwk-embedded-oct", "jwk-embedded-rsa"},
    "auth-alg-from-header": {"alg-hs384", "alg-rs256-hmac", "alg-es256-hmac", "alg-missing",
                             "alg-null", "alg-array", "alg-lowercase", "alg-trailing-space"},
}  # fmt: skip


def _attack_outcomes(run: ProbeRun) -> dict[str, str]:
    marker = "test_verifier_refuses_attack["
    return {
        probe.split(marker, 1)[1].removesuffix("]"): outcome
        for probe, outcome in run.outcomes().items()
        if marker in probe
    }


def _probe(tmp_path: Path, name: str, *faults: str, secret: bool = True) -> tuple[ProbeRun, str]:
    server_dir = tmp_path / f"server-{name}"
    server_dir.mkdir()
    (server_dir / "secret.txt").write_text(SECRET)
    (server_dir / "secret.txt").chmod(0o600)
    fault_args = [arg for fault in faults for arg in ("--fault", fault)]
    with refserver(server_dir, *SERVER_ARGS, *fault_args) as server:
        token = server.token_file.read_text().strip()
        run = run_probes(
            tmp_path / f"out-{name}",
            f"--st-target={server.base_url}",
            f"--st-token-file={server.token_file}",
            *([f"--st-secret-file={server.secret_file}"] if secret else []),
            "--st-profile=embedded", "--tb=long", "-l", "-rA",
            "-k", "test_verifier_refuses_attack",
            selection=("probes/test_auth.py",),
        )  # fmt: skip
    return run, token


def test_without_the_secret_the_secret_cases_skip_with_the_reason(tmp_path: Path) -> None:
    run, _ = _probe(tmp_path, "no-secret", secret=False)
    assert run.returncode == 0, run.output[-3000:]
    outcomes = _attack_outcomes(run)
    skipped = {name for name, outcome in outcomes.items() if outcome == "skipped"}
    assert {"alg-hs384", "exp-string", "crit-unknown", "query-token", "cookie-jwt"} <= skipped
    assert {"jwk-embedded-oct", "kid-path-dev-null", "empty-key", "long-token-64k"}.isdisjoint(
        skipped
    )
    reasons = {
        r["reason"]
        for r in run.records
        if r["kind"] == "outcome" and r["outcome"] == "skipped" and "attack[" in r["probe"]
    }
    assert reasons and all("--st-secret-file" in reason for reason in reasons), reasons
    # One route only: every attack was sent once, to the first protected GET.
    samples = [r for r in run.records if r["kind"] == "sample" and "attack[" in r["probe"]]
    assert len(samples) == len(outcomes) - len(skipped)
    assert {(s["method"], s["endpoint"]) for s in samples} == {("GET", "/scene")}


def test_failing_attack_cases_leak_no_token_anywhere(tmp_path: Path) -> None:
    run, token = _probe(tmp_path, "leaky", *LEAKY_FAULTS)
    assert run.returncode == 1, run.output[-3000:]
    failing = {name for name, outcome in _attack_outcomes(run).items() if outcome == "failed"}
    assert failing == set().union(*LEAKY_FAULTS.values())
    reasons = " ".join(r["reason"] or "" for r in run.records if r["kind"] == "outcome")
    assert "?access_token=<redacted>" in reasons and "Cookie: jwt=<redacted>" in reasons

    _header, payload, signature = token.split(".")
    attacks = verifier_attacks(token, secret=SECRET, now=0, rsa_key=attacker_rsa_key(),
                               issuer="spacetime", audience="spacetime-api")  # fmt: skip
    forged = attacks.by_name()["query-token"].query[0][1]  # the same as the run's: no clock in it
    needles = {"token": token, "payload segment": payload, "signature segment": signature,
               "secret": SECRET, "forged token": forged,
               "forged payload": forged.split(".")[1], "forged signature": forged.split(".")[2],
               "jti of the forged token": TRANSPORT_JTI}  # fmt: skip
    texts = {"captured output": run.output}
    inputs = {"secret.txt", "jwt_token.txt"}
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in inputs:
            texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    assert any("allure-results" in where for where in texts)
    hits = [f"{name} in {where}" for where, text in texts.items()
            for name, needle in needles.items() if needle in text]  # fmt: skip
    hits += [f"JWT shape in {where}" for where, text in texts.items() if JWT_LIKE.search(text)]
    assert not hits, "\n".join(hits[:20])
