"""The probes through a real nginx front (seed 001): TLS, limit_req 10 r/s burst 20 nodelay.

Three configurations, one finding each:

1. the seed's block as printed: nginx answers the excess with 503, and the
   rate-limit probe fails saying so;
2. with `limit_req_status 429`: the status is right but nginx's 429 has an
   HTML body and no Retry-After, which the contract requires;
3. with a JSON 429 and `Retry-After: 1` as well: the rate-limit probe and
   the other selected families pass through nginx.

The selection: rate_limit, tls, contract, health, performance, the valid-
token control and one bad credential per endpoint. The probes pace at
8 r/s here, so the full suite (about 1200 requests with auth, traversal
and latency) would take minutes; those families are proven against the
reference server directly and nginx only forwards them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from reliability import nginx
from reliability.certs import CertSet, make_cert_set
from reliability.harness import MeasuredRun, run_measured, save_row
from support import refserver

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not nginx.available(), reason="nginx is not installed (Debian: nginx)"),
]

THROUGH_NGINX = " or ".join(
    [
        "test_rate_limit",
        "test_tls",
        "test_contract",
        "test_health",
        "test_performance",
        "test_valid_token_gets_2xx",
        "test_bad_credentials_get_401 and -missing]",
    ]
)

SEED_BLOCK = """
events {}
http {
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    limit_req_zone $binary_remote_addr zone=api_limit:10m rate=10r/s;
    limit_req zone=api_limit burst=20 nodelay;
    location / { return 200; }
  }
}
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_cert_set(tmp_path_factory.mktemp("certs"))


def _profile(path: Path) -> Path:
    path.write_text(
        "name: nginx-front\nenvironment: staging\n"
        "rate_limit: {rate_per_second: 10, burst: 20}\n"
        "scenes: [res://vr_main.tscn]\nrequest_timeout_s: 10\n"
    )
    return path


def _through(tmp: Path, certs: CertSet, selection: str, **nginx_options: object):
    """Refserver (generous limit) behind nginx; the probes at nginx's https URL."""
    with refserver(tmp / "server", "--rate", "1000", "--burst", "1000") as server:
        upstream = server.base_url.removeprefix("http://")
        with nginx.front(tmp / "nginx", upstream=upstream, cert=certs.good.cert,
                         key=certs.good.key, **nginx_options) as front:  # fmt: skip
            run = run_measured(
                tmp / "out", f"--st-target={front.url}", f"--st-manager-url={server.manager_url}",
                f"--st-token-file={server.token_file}", f"--st-profile={_profile(tmp / 'p.yaml')}",
                f"--st-ca-file={certs.ca.cert}", "-k", selection, timeout=300,
            )  # fmt: skip
            access_log = (front.directory / "access.log").read_text(errors="replace")
    return run, server, access_log


def _rate_limit_reasons(run: MeasuredRun) -> list[str]:
    return [r["reason"] for r in run.failing() if r["family"] == "rate_limit"]


def test_seed_config_fails_nginx_t_as_printed(tmp_path: Path, certs: CertSet) -> None:
    """Seed 001 puts limit_req_zone inside server {}: nginx refuses to start."""
    conf = tmp_path / "seed.conf"
    conf.write_text(SEED_BLOCK % (8443, certs.good.cert, certs.good.key))
    checked = nginx.check(conf, tmp_path)
    assert checked.returncode != 0
    assert '"limit_req_zone" directive is not allowed here' in checked.stderr


@pytest.mark.slow
def test_default_503_is_flagged(tmp_path: Path, certs: CertSet) -> None:
    run, _, access_log = _through(tmp_path, certs, "test_rate_limit")
    assert run.returncode == 1, run.output[-3000:]
    reasons = _rate_limit_reasons(run)
    assert len(reasons) == 1, run.output[-3000:]  # one drain
    assert all("503 where 429 is due" in r and "limit_req_status 429" in r for r in reasons)
    assert '" 503 ' in access_log
    save_row("reliability", "nginx-1-seed", {
        "name": "nginx as seed 001 (no limit_req_status)",
        "figures": f"rate_limit fails: {reasons[0].split(' | ')[0]}",
    })  # fmt: skip


@pytest.mark.slow
def test_bare_429_lacks_retry_after_and_json(tmp_path: Path, certs: CertSet) -> None:
    run, _, access_log = _through(tmp_path, certs, "test_rate_limit", limit_req_status=429)
    assert run.returncode == 1, run.output[-3000:]
    reasons = _rate_limit_reasons(run)
    assert len(reasons) == 1 and all("Content-Type text/html" in r for r in reasons), reasons
    assert '" 429 ' in access_log
    save_row("reliability", "nginx-2-status-429", {
        "name": "nginx + limit_req_status 429",
        "figures": f"rate_limit fails: {reasons[0].split(' | ')[0]}",
    })  # fmt: skip


@pytest.mark.slow
def test_suite_passes_through_nginx(tmp_path: Path, certs: CertSet) -> None:
    run, server, access_log = _through(
        tmp_path, certs, THROUGH_NGINX, limit_req_status=429, json_429=True
    )
    assert run.returncode == 0, run.output[-4000:]
    outcomes = run.outcome_records()
    passed = {r["family"] for r in outcomes if r["outcome"] == "passed"}
    assert {"rate_limit", "tls", "contract", "health", "performance", "auth"} <= passed
    drains = [r["measured"] for r in outcomes if r["family"] == "rate_limit"]
    for drain in drains:  # the burst (+2: nginx's nodelay edge), plus 10 r/s refilled meanwhile
        refilled = math.floor(10 * drain["drain_seconds"])
        assert 20 <= drain["admitted"] <= 22 + refilled, drains
        assert drain["expected_window"][0] <= drain["admitted"] <= drain["expected_window"][1]
    assert '" 429 ' in access_log
    # The reference server saw nginx (127.0.0.1) as its only client, never a forwarded address.
    clients = {json.loads(line)["client"] for line in server.request_log.read_text().splitlines()}
    assert clients == {"127.0.0.1"}
    samples = [r for r in run.run.records if r["kind"] == "sample"]
    collateral = [s for s in samples if s["status"] == 429 and s["family"] != "rate_limit"]
    assert not collateral
    expiry = next(r["measured"]["earliest_expiry"] for r in outcomes if r["family"] == "tls")
    assert (tmp_path / "out" / "tls.prom").exists()
    counts: dict[str, int] = {}
    for record in outcomes:
        counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
    save_row("reliability", "nginx-3-json-429", {
        "name": "nginx + limit_req_status 429 + JSON 429 with Retry-After: 1",
        "figures": f"{counts.get('passed', 0)} passed, {counts.get('skipped', 0)} skipped, "
                   f"0 failed in {run.wall_s:.0f} s ({len(samples)} requests); first 429 after "
                   f"{[d['admitted'] for d in drains]} admitted (burst 20); "
                   f"TLS expiry {expiry:.0f}",
    })  # fmt: skip
