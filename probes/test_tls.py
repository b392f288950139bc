"""TLS: a trusted certificate for this host, not about to expire, and TLS 1.2 or newer only.

Seed 001 puts nginx with `ssl_protocols TLSv1.2 TLSv1.3` in front of the
API; seed 002 alerts when a certificate has under 30 days left
(`--st-tls-min-days`). Every https:// URL of the run (the target, the
manager) is checked; http:// ones are skipped. The handshake facts go into
each outcome's `measured`, and the run writes them as blackbox_exporter
metrics (`probe_ssl_earliest_cert_expiry`...) to `reports/tls.prom`.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

import pytest

from probes import handshake, tls
from probes.plan import NOTHING, Cost
from probes.run import ProbeContext, Run
from probes.tls import TlsFacts

ENDPOINTS = ("target", "manager")


@cache
def _facts(run_id: str, url: str, ca_file: str | None, timeout_s: float) -> TlsFacts:
    """One set of handshakes per URL and process (run_id keys the cache)."""
    return handshake.inspect(url, ca_file=Path(ca_file) if ca_file else None, timeout_s=timeout_s)


@pytest.fixture(params=ENDPOINTS)
def facts(request: pytest.FixtureRequest, st_run: Run) -> TlsFacts:
    which = request.param
    url = st_run.target.base_url if which == "target" else st_run.target.manager_url
    if url is None:
        pytest.skip(f"no {which} URL")
    if not url.lower().startswith("https://"):
        pytest.skip(f"{which} is {url.split(':', 1)[0]}://, no TLS to check")
    return _facts(st_run.run_id, url, st_run.ca_file, st_run.profile.request_timeout_s)


def _record(probe: ProbeContext, facts: TlsFacts, **extra: object) -> None:
    """The facts (and what this probe judged) as the outcome's `measured`, read once."""
    probe.measured({**facts.to_measured(), **extra})


def test_certificate_trusted(facts: TlsFacts, probe: ProbeContext) -> None:
    """The chain verifies against the trusted CAs (--st-ca-file, else certifi's) for this host."""
    _record(probe, facts)
    tls.certificate_trusted(facts)


def test_certificate_not_expiring(facts: TlsFacts, st_run: Run, probe: ProbeContext) -> None:
    now = time.time()
    days = None if facts.earliest_expiry is None else tls.expiry_days(facts, now=now)
    _record(probe, facts, days_left=None if days is None else round(days, 2),
            min_days=st_run.tls_min_days)  # fmt: skip
    tls.not_expiring(facts, now=now, min_days=st_run.tls_min_days)


def test_hostname_matches(facts: TlsFacts, probe: ProbeContext) -> None:
    _record(probe, facts)
    tls.hostname_check(facts)


def test_tls_1_2_or_newer(facts: TlsFacts, probe: ProbeContext) -> None:
    _record(probe, facts)
    tls.modern_version(facts)


def test_tls_1_1_refused(facts: TlsFacts, probe: ProbeContext) -> None:
    _record(probe, facts)
    if facts.error is None and facts.old_tls is not None and facts.old_tls.startswith("not"):
        pytest.skip(f"TLS 1.1 handshake {facts.old_tls}")
    tls.old_versions_refused(facts)


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """Handshakes only (a few per URL and process): no HTTP request, no token spent."""
    return NOTHING
