"""The probe suite as users run it: passes on the conforming server, writes its reports,
gives the same results under xdist, keeps off production, and fails cleanly on bad input.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import mint_token, refserver, run_probes

from probes.results import SCHEMA

pytestmark = pytest.mark.integration

FAMILIES = {"auth", "rate_limit", "latency", "traversal", "contract", "health", "performance"}


@pytest.fixture(scope="module")
def conforming(tmp_path_factory: pytest.TempPathFactory):
    return run_probes(tmp_path_factory.mktemp("conforming"))


def test_conforming_server_passes(conforming) -> None:
    assert conforming.returncode == 0, conforming.output[-4000:]
    outcomes = [r for r in conforming.records if r["kind"] == "outcome"]
    assert {r["family"] for r in outcomes if r["outcome"] == "passed"} == FAMILIES
    assert {r["outcome"] for r in outcomes if r["family"] in FAMILIES} == {"passed"}
    # The other families skip as a whole: not in the profile, or nothing to probe here.
    others = [r for r in outcomes if r["family"] not in FAMILIES]
    assert {r["outcome"] for r in others} <= {"skipped"}
    assert "failing families: none" in conforming.output
    assert "Traceback" not in conforming.output


def test_results_file_follows_the_schema(conforming) -> None:
    records = conforming.records
    assert all(r["schema"] == SCHEMA for r in records)
    assert sorted(r["seq"] for r in records) == list(range(len(records)))
    assert len({r["run_id"] for r in records}) == 1
    runs = [r for r in records if r["kind"] == "run"]
    assert [r["phase"] for r in runs] == ["start", "end"]
    assert runs[1]["exit_status"] == 0 and runs[1]["counts"]["failed"] == 0
    samples = [r for r in records if r["kind"] == "sample"]
    assert len(samples) > 500
    # The preflight's one request comes first, then every sample belongs to a probe.
    assert (samples[0]["probe"], samples[0]["family"]) == ("preflight", "preflight")
    for sample in samples[1:]:
        assert sample["family"] in FAMILIES and sample["probe"].startswith("probes/")
        assert isinstance(sample["status"], int) and sample["latency_ms"] >= 0
    # Provoked answers are marked as expected, not as outages.
    assert any(s["status"] == 401 and s["expected_status"] for s in samples)
    assert any(s["status"] == 429 and s["expected_status"] for s in samples)
    latency = [r for r in records if r["kind"] == "outcome" and r["family"] == "latency"]
    assert all({"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(r["measured"]) for r in latency)


def test_junit_and_allure_written(conforming) -> None:
    out = conforming.results.parent
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.find("testsuite").get("tests")) == len(conforming.outcomes())
    allure = out / "allure-results"
    assert list(allure.glob("*-result.json"))
    env = (allure / "environment.properties").read_text()
    assert "environment=local" in env and "target=http://127.0.0.1:" in env


def test_no_collateral_429(conforming) -> None:
    """Only the rate-limit probe ever meets a 429: the rest paced themselves."""
    limited = [r for r in conforming.records if r["kind"] == "sample" and r["status"] == 429]
    assert limited and all(r["family"] == "rate_limit" for r in limited)


def test_the_rate_limit_drain_runs_first_and_the_others_follow_at_once(conforming) -> None:
    """It spends the full bucket the run starts with; the pacer is told what refilled
    during the Retry-After it honoured, so the next family does not wait a refill."""
    samples = [r for r in conforming.records if r["kind"] == "sample"][1:]  # after preflight
    families = [s["family"] for s in samples]
    drained = families.index(next(f for f in families if f != "rate_limit"))
    assert drained > 50 and set(families[:drained]) == {"rate_limit"}
    assert "rate_limit" not in families[drained:]
    gap = samples[drained]["ts"] - samples[drained - 1]["ts"]
    assert gap < 0.5, gap  # the old hand-back slept a full refill (1 s at 100/s)


def test_latency_reuses_the_same_requests_answered_earlier(conforming) -> None:
    """The auth control and the contract and performance probes sent each endpoint's own
    request alone; those answers are the latency family's warm-up, not sent again."""
    records = conforming.records
    latency = [r for r in records if r["kind"] == "outcome" and r["family"] == "latency"]
    reused = {r["endpoint"]: r["measured"]["reused"] for r in latency if r["method"] == "GET"}
    assert reused["/performance"] >= 2 and reused["/scenes"] >= 1, reused
    for outcome in latency:  # judged = reused + sent by the probe; warming requests aside
        measured = outcome["measured"]
        own = sum(1 for r in records if r["kind"] == "sample" and r["probe"] == outcome["probe"])
        assert measured["samples"] <= measured["reused"] + measured["sent"] <= 120
        assert own >= measured["sent"]


def test_xdist_gives_identical_results(conforming, tmp_path: Path) -> None:
    parallel = run_probes(tmp_path, "-n", "2")
    assert parallel.returncode == 0, parallel.output[-3000:]
    assert parallel.judged() == conforming.judged()
    assert sorted(r["seq"] for r in parallel.records) == list(range(len(parallel.records)))
    _sent_within_plan(parallel)


def _sent_within_plan(run) -> dict:
    """The plan printed before the first probe holds: every family sent within its range.

    The session line (scene_guard's reads and restore) counts in the family of the
    probe that first asked for it, so each family may also carry that much.
    """
    (printed,) = [line for line in run.output.splitlines() if "spacetime-probes plan:" in line]
    (end,) = [r for r in run.records if r["kind"] == "run" and r["phase"] == "end"]
    plan = end["plan"]
    assert plan["unplanned"] == [], printed
    sent: dict[str, int] = {}
    for record in run.records:
        if record["kind"] == "sample" and record["family"] != "preflight":
            sent[record["family"]] = sent.get(record["family"], 0) + 1
    nothing = {"low": 0, "high": 0}
    session = plan["families"].get("session", nothing)
    for family, count in sent.items():
        # A family the plan gives nothing (its probes skip) may still carry the session's
        # requests: scene_guard's restore runs while the last probe of a worker is current.
        cost = plan["families"].get(family, nothing)
        assert cost["low"] <= count <= cost["high"] + session["high"], (family, count, cost)
    total = sum(sent.values())
    assert plan["requests"]["low"] <= total <= plan["requests"]["high"], (total, plan)
    return {"sent": sent, "plan": plan}


def test_the_request_plan_is_printed_first_and_holds(conforming) -> None:
    figures = _sent_within_plan(conforming)
    assert figures["plan"]["rate_per_second"] > 0


def test_xdist_identical_under_a_fault(tmp_path: Path) -> None:
    """The failures read the same from two workers as from one. Three families, not all:
    the whole suite's identity is the conforming test's; here what matters is failures."""
    families = ("probes/test_traversal.py", "probes/test_auth.py", "probes/test_contract.py")
    fault = "--st-embedded-fault=traversal-single-decode"
    serial = run_probes(tmp_path / "serial", fault, selection=families)
    parallel = run_probes(tmp_path / "parallel", "-n", "2", fault, selection=families)
    assert serial.returncode == parallel.returncode == 1
    assert "traversal" in serial.failing_families()
    assert serial.judged() == parallel.judged()


def test_failure_is_one_line_with_redacted_curl(tmp_path: Path) -> None:
    run = run_probes(tmp_path, "--st-embedded-fault=auth-open-route", "-k", "test_auth")
    assert run.returncode == 1
    # The failure section holds the probe's whole line (the short summary is cut at 80 columns).
    line = next(
        text for text in run.output.splitlines() if text.startswith("GET /jobs with missing")
    )
    assert "expected 401, got 200 | reproduce: curl" in line
    reasons = [
        r["reason"]
        for r in run.records
        if r["kind"] == "outcome" and r["outcome"] == "failed" and r["reason"]
    ]
    assert all("reproduce: curl" in reason for reason in reasons)
    # No credentials to hide in the missing-token case; the tampered one sends a real signature.
    tampered = next(reason for reason in reasons if "tampered" in reason)
    assert "Authorization: Bearer <redacted>" in tampered
    assert "--data-binary" not in line  # a GET carries no body
    assert "Traceback" not in run.output


def test_production_profile_sends_no_mutating_request(tmp_path: Path) -> None:
    profile = tmp_path / "production.yaml"
    profile.write_text(
        "name: prod\nenvironment: production\n"
        "rate_limit: {rate_per_second: 100, burst: 100}\n"
        "scenes: [res://vr_main.tscn, res://scenes/lobby.tscn]\n"
    )
    log = tmp_path / "requests.jsonl"
    run = run_probes(tmp_path / "out", f"--st-profile={profile}", f"--st-request-log={log}")
    assert run.returncode == 0, run.output[-3000:]
    methods = {json.loads(line)["method"] for line in log.read_text().splitlines()}
    assert methods == {"GET"}
    skipped = [p for p, o in run.outcomes().items() if o == "skipped"]
    assert any("test_traversal" in p for p in skipped)
    allowed = run_probes(
        tmp_path / "allowed", f"--st-profile={profile}", f"--st-request-log={log}",
        "--st-allow-mutating", "-k", "test_known_scenes_accepted",
    )  # fmt: skip
    assert allowed.returncode == 0
    assert "POST" in {json.loads(line)["method"] for line in log.read_text().splitlines()}


def test_external_target_and_no_secret_leaks(tmp_path: Path) -> None:
    """Against a target started apart (as a real one), with the secret: nothing leaks anywhere."""
    with refserver(tmp_path / "server", "--fault", "auth-skip-signature",
                   "--rate", "100", "--burst", "100") as server:  # fmt: skip
        run = run_probes(
            tmp_path / "out",
            f"--st-target={server.base_url}",
            f"--st-manager-url={server.manager_url}",
            f"--st-token-file={server.token_file}",
            f"--st-secret-file={server.secret_file}",
            "--st-profile=embedded",
            "-k", "test_auth or test_health",
        )  # fmt: skip
    assert run.returncode == 1
    assert "expired" in run.output or any("expired" in p for p in run.outcomes())
    token = server.token_file.read_text().strip()
    secret = server.secret_file.read_text().strip()
    token_parts = [part for part in token.split(".") if len(part) > 8]
    haystacks = [run.output] + [
        p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*") if p.is_file()
    ]
    for text in haystacks:
        assert secret not in text
        for part in token_parts:
            assert part not in text
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ", text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--st-profile=/nonexistent/profile.yaml"], "cannot read profile"),
        (["--st-target=http://127.0.0.1:9"], "needs a token"),
        (["--st-embedded-fault=no-such-fault"], "no-such-fault"),
        (["--st-examples=0"], "--st-examples"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    run = run_probes(tmp_path, *args, timeout=120)
    assert run.returncode != 0
    assert message in run.output
    assert "Traceback" not in run.output


def test_bad_profile_yaml_names_file_and_field(tmp_path: Path) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("name: x\nenvironment: staging\nrate_limit: {burst: 5}\nscenes: [a]\n")
    run = run_probes(tmp_path / "out", f"--st-profile={profile}", timeout=120)
    assert run.returncode == 4
    assert f"{profile}: rate_limit.rate_per_second: Field required" in run.output
    assert "Traceback" not in run.output


def test_unreachable_target_fails_every_probe_cleanly(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(mint_token("x"))  # JWT-shaped
    run = run_probes(
        tmp_path / "out", "--st-target=http://127.0.0.1:9", f"--st-token-file={token}",
        "--st-manager-url=http://127.0.0.1:9", "--st-profile=embedded", "-x",
        timeout=180,
    )  # fmt: skip
    assert run.returncode == 1
    assert "cannot connect" in run.output
    assert "Traceback" not in run.output
