"""The project's probe metrics next to the real blackbox_exporter's, for the same target.

Existing blackbox dashboards and alerts read `probe_success`,
`probe_ssl_earliest_cert_expiry`, `probe_tls_version_info`... by name, type and
label set. Debian's `prometheus-blackbox-exporter` (started here on loopback)
probes the same TLS server as the tls family, and for every metric both
report, the project's textfile has the same name, the same type and the same
labels, plus `target`: blackbox gets the target from the scrape (its
`instance`), a textfile holding several targets must name it itself.
"""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from reliability.certs import CertSet, make_cert_set
from reliability.harness import tls_family_run
from support import free_port, refserver, run_probes, service

pytestmark = pytest.mark.integration

BLACKBOX = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
# Labels later blackbox_exporter releases add, which the project exports already: Debian
# bookworm ships 0.23; `serialnumber` on probe_ssl_last_chain_info came with 0.24.
NEWER_LABELS = {"probe_ssl_last_chain_info": frozenset({"serialnumber"})}
NEWER_METRICS = frozenset({"probe_tls_cipher_info"})  # also 0.24


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertSet:
    return make_cert_set(tmp_path_factory.mktemp("certs"))


def _families(text: str) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (type, label names) of every family that has samples."""
    found = {}
    for family in text_string_to_metric_families(text):
        labels = frozenset(k for sample in family.samples for k in sample.labels)
        if family.samples:
            found[family.name] = (family.type, labels)
    return found


def test_shared_metrics_have_blackbox_names_types_and_labels(
    tmp_path: Path, certs: CertSet
) -> None:
    if BLACKBOX is None:
        pytest.fail("prometheus-blackbox-exporter is missing: scripts/bootstrap --dev installs it")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.good.cert, certs.good.key)
    config = tmp_path / "blackbox.yml"
    config.write_text(
        "modules:\n  https:\n    prober: http\n    timeout: 5s\n    http:\n"
        f"      tls_config:\n        ca_file: {certs.ca.cert}\n"
    )
    port = free_port()
    with tls_family_run(tmp_path, certs.ca.cert, context) as (server, run):
        assert run.returncode == 0, run.output[-3000:]
        command = [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
        with service(command, f"http://127.0.0.1:{port}/-/healthy", tmp_path / "blackbox.log"):
            probed = httpx.get(
                f"http://127.0.0.1:{port}/probe",
                params={"target": server.url, "module": "https"},
                timeout=15,
            )
    assert probed.status_code == 200, probed.text
    theirs = _families(probed.text)
    assert theirs["probe_success"][0] == "gauge"
    assert "probe_success 1" in probed.text, probed.text
    ours = _families((tmp_path / "out" / "tls.prom").read_text())
    shared = sorted(set(ours) & set(theirs))
    assert {"probe_success", "probe_ssl_earliest_cert_expiry", "probe_tls_version_info"} <= set(
        shared
    ), (sorted(ours), sorted(theirs))
    for name in shared:
        our_type, our_labels = ours[name]
        their_type, their_labels = theirs[name]
        assert our_type == their_type, (name, our_type, their_type)
        newer = NEWER_LABELS.get(name, frozenset())
        assert our_labels - {"target"} - newer == their_labels - newer, (
            name, our_labels, their_labels,
        )  # fmt: skip
    # What the project exports under blackbox's prefix, blackbox exports too.
    print("shared with blackbox_exporter:", ", ".join(shared))
    ours_only = [
        n for n in ours if n.startswith("probe_") and n not in theirs and n not in NEWER_METRICS
    ]
    assert not ours_only, ours_only


HTTP_FACTS = {
    "probe_success", "probe_duration_seconds", "probe_http_status_code",
    "probe_http_content_length", "probe_http_uncompressed_body_length", "probe_http_ssl",
    "probe_http_redirects",
}  # fmt: skip


def _values(text: str) -> dict[tuple[str, str], float]:
    """(metric, target or "") -> value."""
    return {
        (sample.name, sample.labels.get("target", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_health_probes_export_blackbox_http_facts(tmp_path: Path) -> None:
    """The health probes' textfile next to blackbox's `http` prober on the same URLs: the
    same names, types and labels (plus `target`), the same status codes, and lengths
    within the few bytes that the bodies' counters change between the two requests."""
    if BLACKBOX is None:
        pytest.fail("prometheus-blackbox-exporter is missing: scripts/bootstrap --dev installs it")
    config = tmp_path / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    port = free_port()
    with refserver(tmp_path / "server") as server:
        run = run_probes(
            tmp_path / "out", f"--st-target={server.base_url}",
            f"--st-manager-url={server.manager_url}", f"--st-token-file={server.token_file}",
            "--st-profile=embedded", "-k", "test_health",
        )  # fmt: skip
        assert run.returncode == 0, run.output[-3000:]
        command = [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
        urls = [f"{server.manager_url}/health", f"{server.base_url}/status"]
        with service(command, f"http://127.0.0.1:{port}/-/healthy", tmp_path / "blackbox.log"):
            probed = {
                url: httpx.get(f"http://127.0.0.1:{port}/probe",
                               params={"target": url, "module": "http_2xx"}, timeout=15).text
                for url in urls
            }  # fmt: skip
    text = (tmp_path / "out" / "http.prom").read_text()
    ours, our_values = _families(text), _values(text)
    for url, body in probed.items():
        theirs, their_values = _families(body), _values(body)
        assert their_values[("probe_success", "")] == 1, body
        assert set(ours) & set(theirs) >= HTTP_FACTS, (sorted(ours), sorted(theirs))
        for name in HTTP_FACTS:
            assert ours[name][0] == theirs[name][0], (name, ours[name], theirs[name])
            assert ours[name][1] - {"target"} == theirs[name][1], (name, ours[name], theirs[name])
        lengths = {"probe_http_content_length", "probe_http_uncompressed_body_length"}
        for name in HTTP_FACTS - {"probe_duration_seconds"} - lengths:
            assert our_values[(name, url)] == their_values[(name, "")], (name, url)
        for name in lengths:  # the bodies carry uptimes and counters: a few digits differ
            ours_n, theirs_n = our_values[(name, url)], their_values[(name, "")]
            assert ours_n > 0 and abs(ours_n - theirs_n) <= 16, (name, url, ours_n, theirs_n)
        assert 0 < our_values[("probe_duration_seconds", url)] < 5
