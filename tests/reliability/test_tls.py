"""TLS probes (seeds 001, 002): pure verdicts and metrics, real handshakes, a real probe run."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from reliability.certs import CertSet, Pair, make_cert_set
from reliability.harness import save_row, tls_family_run
from reliability.hostile import HostileServer

from probes import handshake, tls
from probes.checks import ProbeFailure
from probes.tls import Certificate, TlsFacts

NOW = 1_800_000_000.0
DAY = 86400.0


def _cert(**overrides: object) -> Certificate:
    fields: dict[str, object] = {
        "subject": "CN=localhost", "issuer": "CN=test CA", "serial": "1f",
        "not_before": NOW - 10 * DAY, "not_after": NOW + 90 * DAY,
        "dns_names": ("localhost", "*.example.com"), "ip_addresses": ("127.0.0.1", "::1"),
        "fingerprint_sha256": "ab" * 32,
    }  # fmt: skip
    fields.update(overrides)
    return Certificate(**fields)  # type: ignore[arg-type]


def _facts(**overrides: object) -> TlsFacts:
    fields: dict[str, object] = {
        "url": "https://127.0.0.1:8443", "host": "127.0.0.1", "port": 8443,
        "version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": (_cert(),),
        "verified_chain": (_cert(),), "old_tls": "refused (handshake failure)",
    }  # fmt: skip
    fields.update(overrides)
    return TlsFacts(**fields)  # type: ignore[arg-type]


# Pure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "matches"),
    [
        ("localhost", True), ("LOCALHOST.", True), ("a.example.com", True),
        ("example.com", False), ("a.b.example.com", False), ("127.0.0.1", True),
        ("::1", True), ("[::1]", True), ("127.0.0.2", False), ("evil-localhost", False),
    ],
)  # fmt: skip
def test_hostname_matching(host: str, matches: bool) -> None:
    assert tls.hostname_matches(host, _cert()) is matches


def test_wildcard_needs_two_labels_after_it() -> None:
    assert not tls.hostname_matches("example", _cert(dns_names=("*.example",)))
    assert not tls.hostname_matches("a.example.com", _cert(dns_names=("a*.example.com",)))


def test_expiry_verdicts() -> None:
    facts = _facts()
    assert tls.not_expiring(facts, now=NOW, min_days=30) == pytest.approx(90)
    with pytest.raises(ProbeFailure, match=r"expires in 10\.0 days .*at least 30 required"):
        tls.not_expiring(_facts(chain=(_cert(not_after=NOW + 10 * DAY),)), now=NOW, min_days=30)
    with pytest.raises(ProbeFailure, match=r"expired 2\.0 days ago"):
        tls.not_expiring(_facts(chain=(_cert(not_after=NOW - 2 * DAY),)), now=NOW, min_days=30)
    intermediate = _cert(subject="CN=Intermediate", not_after=NOW + 5 * DAY)
    with pytest.raises(ProbeFailure, match=r"chain certificate CN=Intermediate expires in 5\.0"):
        tls.not_expiring(_facts(chain=(_cert(), intermediate)), now=NOW, min_days=30)


def test_other_verdicts_are_one_line() -> None:
    cases = [
        (tls.certificate_trusted, _facts(verify_error="certificate not trusted: self-signed")),
        (tls.hostname_check, _facts(host="spacetime.example.org")),
        (tls.hostname_check, _facts(chain=(_cert(dns_names=(), ip_addresses=()),))),
        (tls.modern_version, _facts(version="TLSv1.1")),
        (tls.old_versions_refused, _facts(old_tls="accepted TLSv1.1")),
        (tls.modern_version, _facts(error="no TLS handshake: Connection refused")),
    ]
    for verdict, facts in cases:
        with pytest.raises(ProbeFailure) as info:
            verdict(facts)
        assert "\n" not in info.value.reason and info.value.reason.startswith("TLS ")
    tls.modern_version(_facts(version="TLSv1.2"))
    tls.old_versions_refused(_facts())


def test_measured_round_trip() -> None:
    facts = _facts()
    assert TlsFacts.from_measured(facts.to_measured()) == facts
    assert facts.to_measured()["earliest_expiry"] == NOW + 90 * DAY


def test_metrics_follow_blackbox_exporter() -> None:
    down = _facts(url="https://down:443", error="no TLS handshake: refused", chain=())
    registry = tls.metrics_registry([_facts(), down], {"https://127.0.0.1:8443": True,
                                                       "https://down:443": False})  # fmt: skip
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }
    target = ("target", "https://127.0.0.1:8443")
    assert samples[("probe_ssl_earliest_cert_expiry", (target,))] == NOW + 90 * DAY
    assert samples[("probe_ssl_last_chain_expiry_timestamp_seconds", (target,))] == NOW + 90 * DAY
    assert samples[("probe_tls_version_info", (target, ("version", "TLS 1.3")))] == 1
    assert samples[("probe_success", (("target", "https://down:443"),))] == 0
    info = [k for k in samples if k[0] == "probe_ssl_last_chain_info"]
    assert dict(info[0][1])["subjectalternative"] == "localhost,*.example.com,127.0.0.1,::1"
    assert not [
        k
        for k in samples
        if k[0].startswith("probe_ssl") and ("target", "https://down:443") in k[1]
    ]


def test_version_labels() -> None:
    assert tls.version_label("TLSv1") == "TLS 1.0"
    assert tls.version_label("TLSv1.3") == "TLS 1.3"


# Real handshakes -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_cert_set(tmp_path_factory.mktemp("certs"))


def server_context(pair: Pair, *, old: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)
    if old:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


@pytest.mark.integration
@pytest.mark.parametrize(
    ("pair", "verify_error"),
    [
        ("good", None),
        ("expired", "certificate has expired"),
        ("self_signed", "self-signed certificate"),
        ("wrong_host", "mismatch, certificate is not valid for '127.0.0.1'"),
    ],
)
def test_handshake_facts(certs: CertSet, pair: str, verify_error: str | None) -> None:
    with HostileServer("ok", ssl_context=server_context(getattr(certs, pair))) as server:
        facts = handshake.inspect(server.url, ca_file=certs.ca.cert, timeout_s=2)
    assert facts.error is None
    assert facts.version == "TLSv1.3" and facts.cipher
    assert facts.leaf is not None and facts.earliest_expiry is not None
    if verify_error is None:
        assert facts.verify_error is None and facts.verified_chain
        assert facts.last_chain_expiry == facts.earliest_expiry
    else:
        assert facts.verify_error is not None and verify_error in facts.verify_error
        assert "\n" not in facts.verify_error
    assert facts.old_tls is not None and facts.old_tls.startswith("refused")


@pytest.mark.integration
def test_server_accepting_tls_1_1_is_seen(certs: CertSet) -> None:
    if not ssl.HAS_TLSv1_1:
        pytest.skip("this OpenSSL has no TLS 1.1")
    with HostileServer("ok", ssl_context=server_context(certs.good, old=True)) as server:
        facts = handshake.inspect(server.url, ca_file=certs.ca.cert, timeout_s=2)
    assert facts.version == "TLSv1.1"
    assert facts.old_tls == "accepted TLSv1.1"
    with pytest.raises(ProbeFailure, match=r"negotiated TLS 1\.1"):
        tls.modern_version(facts)


def test_no_tls_at_all_is_one_line_facts() -> None:
    facts = handshake.inspect("https://127.0.0.1:9", ca_file=None, timeout_s=1)
    assert facts.error is not None and facts.error.startswith("no TLS handshake")
    with HostileServer("stall") as plain:  # answers nothing: the handshake times out
        started = time.perf_counter()
        facts = handshake.inspect(plain.url.replace("http:", "https:"), ca_file=None, timeout_s=0.5)
    assert time.perf_counter() - started < 1.5
    assert facts.error == "no TLS handshake: timeout during the TLS handshake"


# The tls family in a probe run ---------------------------------------------------------------


def _tls_run(tmp_path: Path, certs: CertSet, context: ssl.SSLContext, *extra: str):
    with tls_family_run(tmp_path, certs.ca.cert, context, *extra) as (server, run):
        return server, run


@pytest.mark.integration
def test_tls_family_passes_and_exports_metrics(tmp_path: Path, certs: CertSet) -> None:
    server, run = _tls_run(tmp_path, certs, server_context(certs.good))
    assert run.returncode == 0, run.output[-3000:]
    outcomes = {r["probe"].split("::")[1]: r["outcome"] for r in run.outcome_records()}
    assert outcomes["test_certificate_trusted[target]"] == "passed"
    assert outcomes["test_tls_1_1_refused[target]"] == "passed"
    assert outcomes["test_certificate_trusted[manager]"] == "skipped"  # no manager URL
    prom = tmp_path / "out" / "tls.prom"
    text = prom.read_text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expiry = families["probe_ssl_earliest_cert_expiry"].samples[0]
    assert expiry.labels == {"target": server.url}
    days = (expiry.value - time.time()) / DAY
    assert 364 < days < 366
    assert families["probe_tls_version_info"].samples[0].labels["version"] == "TLS 1.3"
    assert families["probe_success"].samples[0].value == 1
    assert f"tls metrics: {prom}" in run.output
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=30)  # fmt: skip
        assert check.returncode == 0, check.stdout + check.stderr
    save_row("reliability", "tls-good", {
        "name": "TLS, valid certificate (CA-signed, 365 days)",
        "figures": f"tls family {sum(o == 'passed' for o in outcomes.values())} passed; "
                   f"probe_ssl_earliest_cert_expiry={expiry.value:.0f} ({days:.1f} days); "
                   f"TLS 1.3; TLS 1.1 refused",
    })  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize(
    ("pair", "old", "min_days", "failing", "reason"),
    [
        ("good", False, "400", {"test_certificate_not_expiring"}, "at least 400 required"),
        ("good", True, "30",
         {"test_tls_1_2_or_newer", "test_tls_1_1_refused", "test_certificate_trusted"},
         "a client offering at most TLS 1.1 was accepted"),
    ],
    ids=["min-days-400", "tls-1.1"],
)  # fmt: skip
def test_tls_family_fails_with_one_line(
    tmp_path: Path, certs: CertSet, pair: str, old: bool, min_days: str, failing: set[str],
    reason: str,
) -> None:  # fmt: skip
    if old and not ssl.HAS_TLSv1_1:
        pytest.skip("this OpenSSL has no TLS 1.1")
    context = server_context(getattr(certs, pair), old=old)
    _, run = _tls_run(tmp_path, certs, context, f"--st-tls-min-days={min_days}")
    assert run.returncode == 1, run.output[-3000:]
    failed = {r["probe"].split("::")[1].split("[")[0] for r in run.failing()}
    assert failed == failing, run.output[-3000:]
    reasons = [r["reason"] for r in run.failing()]
    assert any(reason in r for r in reasons), reasons
    assert all("\n" not in r for r in reasons) and "Traceback" not in run.output
