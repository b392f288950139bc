"""The target-fault matrix: the probes against targets that are down, hostile or broken.

Each case runs a representative subset of the probes (one or more per
family that talks HTTP, and the tls family on https cases) against a
misbehaving target and requires: exit status 1, every failing probe's
reason on one line, no traceback, no probe slower than its requests'
timeouts allow, and the run's peak memory within 64 MiB of the same
subset against the conforming server. The table (case, failing, worst
reason, wall time, peak RSS) is kept in reports/self-test/target-faults.md
and printed at the end of the self-test session.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability.certs import CertSet, Pair, make_cert_set
from reliability.harness import MeasuredRun, run_measured, save_row, write_profile
from reliability.hostile import Blackhole, HostileServer
from support import free_port, mint_token, refserver

from probes.outcomes import LOCKED_OUT, UNREACHABLE

pytestmark = [pytest.mark.integration]

TIMEOUT_S = 0.5  # the hostile cases' request timeout (--st-timeout): kept small, it is paid often
BASELINE_TIMEOUT_S = 2.0  # the conforming run must pass on a loaded machine
# Slack per request over the timeout (scheduling on a loaded CI machine), and for pytest itself.
PER_REQUEST_SLACK_S = 0.75
STARTUP_ALLOWANCE_S = 45.0
RSS_GROWTH_LIMIT_MIB = 64.0
HANDSHAKES = 3  # the tls family's, per URL and process

SUBSET = " or ".join(
    [
        "test_valid_token_gets_2xx and GET/jobs",
        "test_bad_credentials_get_401 and GET/scenes-missing",
        "test_response_shape and GET/scenes",
        "test_unknown_route_is_json_404",
        "test_status_services",
        "test_health_code_matches_body",
        "test_performance_threshold and fps",
        "test_latency_sla and GET/status",
    ]
)
TLS_SUBSET = SUBSET + " or test_tls"


@dataclass(frozen=True)
class Case:
    name: str
    what: str  # the column "the target"
    start: Callable[[Path, CertSet], contextlib.AbstractContextManager[str]]
    # an outage or lockout: every failing probe says so first (the circuit breaker's
    # one line, not its family's message), and nothing is measured from it
    outage: str = ""
    tls: bool = False
    # tls cases: exactly these tls probes fail, one of them with `reason` in its line
    tls_failing: frozenset[str] = frozenset()
    reason: str = ""


@contextlib.contextmanager
def _hostile(
    mode: str, pair_name: str | None = None, certs: CertSet | None = None
) -> Iterator[str]:
    context = None
    if pair_name is not None and certs is not None:
        pair: Pair = getattr(certs, pair_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pair.cert, pair.key)
    with HostileServer(mode, ssl_context=context) as server:
        yield server.url


@contextlib.contextmanager
def _down() -> Iterator[str]:
    yield f"http://127.0.0.1:{free_port()}"


@contextlib.contextmanager
def _blackhole() -> Iterator[str]:
    with Blackhole() as hole:
        yield hole.url


@contextlib.contextmanager
def _redirect_away() -> Iterator[str]:
    """307 to another host (`localhost`, not 127.0.0.1): a second server there records
    whatever reaches it, and nothing may, least of all the token."""
    with HostileServer("ok") as elsewhere:
        away = f"http://localhost:{elsewhere.port}"
        with HostileServer("redirect-away", redirect_to=away) as server:
            yield server.url
        assert server.received, "the redirecting target was never asked"
        assert not elsewhere.received, (
            f"a redirect was followed to another host: {elsewhere.received[:3]}"
        )


def _mode(mode: str) -> Callable[[Path, CertSet], contextlib.AbstractContextManager[str]]:
    return lambda tmp, certs: _hostile(mode)


def _cert(name: str) -> Callable[[Path, CertSet], contextlib.AbstractContextManager[str]]:
    return lambda tmp, certs: _hostile("ok", name, certs)


CASES = [
    Case("down", "nothing listens (connection refused)", lambda t, c: _down(), UNREACHABLE),
    Case("blackhole", "accept queue full: connect hangs", lambda t, c: _blackhole(), UNREACHABLE),
    Case("refuse", "accepts, closes at once", _mode("refuse"), UNREACHABLE),
    Case("reset", "accepts, resets (RST)", _mode("reset"), UNREACHABLE),
    Case("reset-mid-body", "resets 1 KB into a 100 KB body", _mode("reset-mid-body"), UNREACHABLE),
    Case("stall", "reads the request, never answers", _mode("stall"), UNREACHABLE),
    Case("slowloris-headers", "headers at 1 byte / 100 ms", _mode("slow-headers"), UNREACHABLE),
    Case("slowloris-body", "headers, then body 1 byte / 100 ms", _mode("slow-body"), UNREACHABLE),
    Case("garbage", "binary garbage instead of HTTP", _mode("garbage"), UNREACHABLE),
    Case("not-json", "200 application/json with an HTML body", _mode("not-json")),
    Case("wrong-content-type", "200 JSON as text/plain", _mode("wrong-content-type")),
    Case("huge-body", "100 MB body (Content-Length)", _mode("huge-body")),
    Case("huge-chunked", "100 MB body (chunked)", _mode("huge-chunked")),
    Case("gzip-bomb", "100 MB gzip-compressed to 100 KB", _mode("gzip-bomb")),
    Case("huge-headers", "a 1 MiB header line", _mode("huge-headers"), UNREACHABLE),
    Case("redirect-loop", "302 to itself", _mode("redirect-loop")),
    Case("redirect-away", "307 to another host, which records what it gets",
         lambda t, c: _redirect_away()),
    Case("rate-limited", "429 with Retry-After: 3600 to all", _mode("rate-limited"), LOCKED_OUT),
    Case("tls-expired", "certificate expired 2 days ago", _cert("expired"), tls=True,
         tls_failing=frozenset({"test_certificate_trusted", "test_certificate_not_expiring"}),
         reason="expired 2.0 days ago"),
    Case("tls-self-signed", "self-signed certificate", _cert("self_signed"), tls=True,
         tls_failing=frozenset({"test_certificate_trusted"}), reason="self-signed certificate"),
    Case("tls-wrong-host", "certificate for another host", _cert("wrong_host"), tls=True,
         tls_failing=frozenset({"test_certificate_trusted", "test_hostname_matches"}),
         reason="certificate is for spacetime.example.com, not 127.0.0.1"),
    Case("tls-expiring", "valid certificate, 10 days left", _cert("short"), tls=True,
         tls_failing=frozenset({"test_certificate_not_expiring"}),
         reason="expires in 10.0 days"),
]  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_cert_set(tmp_path_factory.mktemp("certs"))


def _args(url: str, token: Path, profile: Path, certs: CertSet, tls: bool) -> list[str]:
    return [
        f"--st-target={url}", f"--st-manager-url={url}", f"--st-token-file={token}",
        f"--st-profile={profile}", f"--st-ca-file={certs.ca.cert}",
        "-k", TLS_SUBSET if tls else SUBSET,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, certs: CertSet) -> MeasuredRun:
    """The same subset against the conforming reference server: passes, and sets the RSS bar."""
    tmp = tmp_path_factory.mktemp("baseline")
    profile = write_profile(tmp / "profile.yaml", timeout_s=BASELINE_TIMEOUT_S)
    with refserver(tmp / "server", "--rate", "1000", "--burst", "1000") as server:
        args = _args(server.base_url, server.token_file, profile, certs, tls=False)
        args[1] = f"--st-manager-url={server.manager_url}"
        run = run_measured(tmp / "out", *args)
    assert run.returncode == 0, run.output[-3000:]
    _save("conforming", "the reference server, no fault", run, passed_expected=True)
    return run


def _save(name: str, what: str, run: MeasuredRun, *, passed_expected: bool = False) -> dict:
    failing = run.failing()
    reasons = [r["reason"] or "" for r in failing]
    slowest = max(run.outcome_records(), key=lambda r: r["duration_s"], default=None)
    row = {
        "case": name,
        "target": what,
        "exit_status": run.returncode,
        "failing": len(failing),
        "probes": len(run.outcome_records()),
        "reason": min(reasons, key=len) if reasons else "",
        "worst_reason": max(reasons, key=len) if reasons else "",
        "slowest_probe_s": round(slowest["duration_s"], 2) if slowest else None,
        "wall_s": round(run.wall_s, 1),
        "peak_rss_mib": round(run.max_rss_mib, 1),
        "expected": "pass" if passed_expected else "fail",
    }
    save_row("target-faults", name, row)
    print(row)
    return row


SECTION = re.compile(r"^_{3,} (.+?) _{3,}$")


def failure_sections(output: str) -> dict[str, list[str]]:
    """pytest's FAILURES part: each failing probe's header and the lines under it."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        header = SECTION.match(line)
        if header:
            current = sections.setdefault(header.group(1), [])
        elif line.startswith(("spacetime-probes:", "=")) or not line.strip():
            current = None
        elif current is not None:
            current.append(line)
    return sections


def assert_clean_failure(run: MeasuredRun, timeout_s: float, baseline_rss_mib: float) -> None:
    """Exit 1, one-line reasons, no traceback, bounded time per probe and in all, bounded RSS."""
    assert not run.timed_out, f"the run hung: killed after {run.wall_s:.0f} s"
    assert run.returncode == 1, f"exit {run.returncode}\n{run.output[-3000:]}"
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output[-3000:]
    failing = run.failing()
    assert failing, "no probe failed"
    for record in failing:
        reason = record["reason"] or ""
        assert reason and "\n" not in reason, f"{record['probe']}: {reason!r}"
    sections = failure_sections(run.output)
    assert len(sections) == len(failing), sorted(sections)
    for name, lines in sections.items():
        assert len(lines) == 1, f"{name}: {len(lines)} lines\n" + "\n".join(lines[:20])
    samples = run.samples_per_probe()
    budget_s = STARTUP_ALLOWANCE_S
    for record in run.outcome_records():
        requests = samples.get(record["probe"], 0)
        if record["family"] == "tls":
            requests += HANDSHAKES
        allowed = max(requests, 1) * (timeout_s + PER_REQUEST_SLACK_S) + 1.0
        budget_s += allowed
        assert record["duration_s"] <= allowed, (
            f"{record['probe']} took {record['duration_s']:.1f} s for {requests} requests "
            f"of at most {timeout_s:g} s each"
        )
    assert run.wall_s <= budget_s, f"wall {run.wall_s:.1f} s over {budget_s:.1f} s"
    assert run.max_rss_mib <= baseline_rss_mib + RSS_GROWTH_LIMIT_MIB, (
        f"peak RSS {run.max_rss_mib:.0f} MiB, conforming run {baseline_rss_mib:.0f} MiB"
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_target_fault(case: Case, tmp_path: Path, certs: CertSet, baseline: MeasuredRun) -> None:
    token = tmp_path / "token"
    token.write_text(mint_token("reliability"))
    profile = write_profile(tmp_path / "profile.yaml", timeout_s=TIMEOUT_S)
    with case.start(tmp_path, certs) as url:
        run = run_measured(tmp_path / "out", *_args(url, token, profile, certs, case.tls))
    _save(case.name, case.what, run)
    assert_clean_failure(run, TIMEOUT_S, baseline.max_rss_mib)
    if case.outage:
        for record in run.failing():
            assert (record["reason"] or "").startswith(case.outage), record
        measured = [r["probe"] for r in run.outcome_records() if r.get("measured")]
        assert not measured, f"figures from unanswered requests: {measured}"
    if case.tls:
        failing_tls = [r for r in run.failing() if r["family"] == "tls"]
        names = {r["probe"].split("::")[1].split("[")[0] for r in failing_tls}
        assert names == case.tls_failing, run.output[-3000:]
        assert any(case.reason in r["reason"] for r in failing_tls), [
            r["reason"] for r in failing_tls
        ]
