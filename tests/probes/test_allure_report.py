"""Allure: categories, the probe's path on each failure, redacted exchanges; and the real
report, built by the Allure command line and opened in headless Chromium."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import ROOT, SELF_TEST_REPORTS, chromium, chromium_binary, mint_token, run_probes

from probes.allure_report import (
    categories,
    category_of,
    exchange_attachment,
    finish_results,
    tag_result,
)
from probes.exchange import Exchange

TOKEN = mint_token()


@pytest.mark.parametrize(
    ("family", "message", "category"),
    [
        ("auth", "GET /jobs with missing credentials: expected 401, got 200", "Auth"),
        ("auth", "GET /jobs with missing credentials: expected 401, got 503", "Availability"),
        ("latency", "GET /scene latency: no response (cannot connect: refused)", "Availability"),
        ("rate_limit", "GET /scenes drained: 503 where 429 is due (after 20 admitted)",
         "Rate limiting"),
        ("traversal", "POST /scene [double]: 3/12 invalid paths not rejected", "Traversal"),
        ("contract", "GET /jobs: response does not match the contract: queue_length", "Contract"),
        ("health", "manager GET /health: system not healthy", "Availability"),
        ("latency", "GET /scene latency: p95 212.4 ms vs limit 200 ms", "Latency"),
        ("performance", "GET /performance engine.fps: engine.fps = 42 breaches", "Performance"),
        ("tls", "certificate expires in 3 days", "TLS"),
    ],
)  # fmt: skip
def test_each_failure_lands_in_one_category(family: str, message: str, category: str) -> None:
    assert category_of(family, f"probes.checks.ProbeFailure: {message}") == category
    matching = [
        c["name"]
        for c in categories()
        if re.match(c["messageRegex"], f"probes.checks.ProbeFailure: {message}")
        and ("traceRegex" not in c or re.match(c["traceRegex"], f"probes/test_{family}.py::t\nx"))
    ]
    assert len(set(matching)) == 1 and len(matching) == 1, matching


def test_failures_are_tagged_with_their_probe_path_once() -> None:
    result = {
        "name": "test_bad_credentials_get_401[GET/jobs-missing]",
        "fullName": "probes.test_auth#test_bad_credentials_get_401",
        "status": "failed",
        "statusDetails": {"message": "m", "trace": "GET /jobs ...: expected 401, got 200"},
        "labels": [{"name": "suite", "value": "test_auth"}],
    }
    assert tag_result(result) is True
    assert result["statusDetails"]["trace"] == (
        "probes/test_auth.py::test_bad_credentials_get_401[GET/jobs-missing]\n"
        "GET /jobs ...: expected 401, got 200"
    )
    assert {"name": "feature", "value": "auth"} in result["labels"]
    assert tag_result(result) is False  # idempotent
    passed = {"name": "t", "fullName": "probes.test_latency#t", "status": "passed"}
    assert tag_result(passed) and "statusDetails" not in passed
    assert tag_result({"fullName": "tests.test_x#t", "status": "failed"}) is False


def test_the_exchange_attachment_is_redacted() -> None:
    exchange = Exchange(
        method="GET",
        url="http://127.0.0.1:1/performance",
        endpoint="/performance",
        request_headers={"Authorization": f"Bearer {TOKEN}", "X-Trace": "1"},
        request_body=None,
        status=401,
        headers={"www-authenticate": 'Bearer error="invalid_token"'},
        body=f'{{"echo": "{TOKEN}", "secret": "hunter2-signing-secret"}}'.encode(),
        latency_ms=3.2,
    )
    text = exchange_attachment(exchange, (TOKEN, "hunter2-signing-secret"))
    assert TOKEN not in text and "hunter2" not in text and "eyJ" not in text
    assert "Authorization: Bearer <redacted>" in text
    assert "--- response: 401 in 3.2 ms ---" in text
    assert 'www-authenticate: Bearer error="invalid_token"' in text
    assert "reproduce: curl -sS -i -X GET http://127.0.0.1:1/performance" in text
    dead = Exchange("GET", "http://h/x", "/x", {}, None, None, error="cannot connect: refused")
    assert "--- no response: cannot connect: refused ---" in exchange_attachment(dead)


# ----------------------------------------------------------------------------- the report

TOOLS = ROOT / "reports" / ".tools"


def allure_command() -> str | None:
    """`allure` on PATH, else the npm package `allure-commandline` under reports/.tools."""
    found = shutil.which("allure") or (TOOLS / "node_modules/.bin/allure")
    if isinstance(found, Path) and not found.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(TOOLS),
             "allure-commandline@2"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    return str(found)


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.integration
@pytest.mark.slow
def test_allure_html_report_shows_suites_and_the_failure_category(tmp_path: Path) -> None:
    browser = chromium_binary()
    if browser is None or shutil.which("java") is None:
        pytest.skip("Debian chromium and a Java runtime are needed (scripts/bootstrap --dev)")
    allure = allure_command()
    if allure is None:
        pytest.skip("npm is needed to install allure-commandline (scripts/bootstrap --dev)")
    run = run_probes(
        tmp_path / "run", "--st-embedded-fault=contract-wrong-type",
        "-k", "test_contract or test_health or test_performance",
    )  # fmt: skip
    assert run.returncode == 1, run.output[-2000:]
    results = tmp_path / "run" / "allure-results"
    assert (results / "categories.json").is_file() and (
        results / "environment.properties"
    ).is_file()
    assert finish_results(results) is None  # idempotent after the plugin's own call
    attachments = list(results.glob("*-attachment.txt"))
    assert attachments and all("Bearer <redacted>" in a.read_text() for a in attachments)

    html = tmp_path / "html"
    generated = subprocess.run(
        [allure, "generate", str(results), "-o", str(html), "--clean"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    shots = SELF_TEST_REPORTS / "allure"
    shots.mkdir(parents=True, exist_ok=True)
    tree = json.loads((html / "data" / "categories.json").read_text())
    [category] = tree["children"]
    group = category["children"][0]
    failure = f"categories/{group['uid']}/{group['children'][0]['uid']}"
    with serve(html) as url:
        doms = {}
        for view in ("categories", "suites", "behaviors", failure):
            shot = shots / f"{'failure' if view == failure else view}.png"
            doms[view] = chromium(browser, tmp_path / "chromium", "--dump-dom", f"{url}#{view}")
            chromium(browser, tmp_path / "chromium", f"--screenshot={shot}", f"{url}#{view}")
    names = {
        view: re.findall(r'class="node__name[^"]*">([^<]+)<', dom) for view, dom in doms.items()
    }
    assert "Contract" in names["categories"], names
    assert "probes" in names["suites"], names
    assert {"contract", "health", "performance"} <= set(names["behaviors"]), names
    # the failure itself: its category, a step per request, the redacted exchange
    page = re.sub(r"<[^>]+>", " ", doms[failure])
    assert re.search(r"Categories:\s+Contract", page), page[:3000]
    assert "GET /jobs -&gt; 200 in" in doms[failure] or "GET /jobs -> 200 in" in page
    assert "exchange (redacted)" in page
    for name in ("categories", "suites", "behaviors", "failure"):
        assert (shots / f"{name}.png").stat().st_size > 10_000

    # The CI artifact: one file that opens from disk (a served report opened from disk
    # shows "500 Failed to fetch", its data being separate files).
    single = tmp_path / "single"
    generated = subprocess.run(
        [allure, "generate", "--single-file", str(results), "-o", str(single), "--clean"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert [p.name for p in single.iterdir()] == ["index.html"]
    url = (single / "index.html").as_uri()
    dom = chromium(browser, tmp_path / "chromium", "--dump-dom", f"{url}#categories")
    chromium(browser, tmp_path / "chromium", f"--screenshot={shots / 'single-file.png'}",
             f"{url}#categories")  # fmt: skip
    assert "Failed to fetch" not in dom
    assert "Contract" in re.findall(r'class="node__name[^"]*">([^<]+)<', dom), dom[:2000]
