"""`scripts/ci/ledger.py restore`: the cache's ledger, or a newer one from the last
`slo:report` job's artifact through a (local, fake) GitLab Jobs API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cirunner import ROOT
from support import loopback_http

from slo import cli as slo_cli
from slo import synth
from slo.store import Ledger

TOKEN = "glpat-sEcReT-ledger-token"
LEDGER = "reports/slo-ledger.sqlite"
CURRENT_PIPELINE = "777"


def make_ledger(path: Path, environment: str, runs: int = 1) -> Path:
    """A real SLO ledger (ingested now) holding `runs` small runs of one environment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results = path.with_suffix(".jsonl")
    records = []
    for n in range(runs):
        records += synth.simple_run(n + 1, time.time() - 60, good=5, environment=environment)
    results.write_text(synth.dumps(records))
    assert slo_cli.main(["ingest", "--ledger", str(path), str(results)]) == 0
    with Ledger.open(path, create=False):  # checkpoint the WAL: one file, as CI stores it
        pass
    return path


@contextlib.contextmanager
def gitlab_api(jobs: list[dict], artifacts: dict[int, bytes]) -> Iterator[dict]:
    """Jobs list and single-artifact downloads of project 4242, PRIVATE-TOKEN required."""
    seen: dict = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            seen["requests"].append(url.path)
            if self.headers.get("PRIVATE-TOKEN") != TOKEN:
                return self._send(401, b'{"message":"401 Unauthorized"}')
            if url.path == "/api/v4/projects/4242/jobs":
                query = parse_qs(url.query)
                assert query["scope[]"] == ["success"]
                page = int(query["page"][0])
                return self._send(200, json.dumps(jobs if page == 1 else []).encode())
            prefix = "/api/v4/projects/4242/jobs/"
            if url.path.startswith(prefix) and url.path.endswith(f"/artifacts/{LEDGER}"):
                job = int(url.path[len(prefix) :].split("/", 1)[0])
                if job in artifacts:
                    return self._send(200, artifacts[job])
            return self._send(404, b'{"message":"404 Not Found"}')

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(Handler) as url:
        seen["url"] = f"{url}/api/v4"
        yield seen


def restore(workdir: Path, api: str | None, token: str | None = TOKEN) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "SLO_", "ST_"))}
    env.update({"CI_PROJECT_ID": "4242", "CI_PIPELINE_ID": CURRENT_PIPELINE,
                "ST_ENVIRONMENT": "staging"})  # fmt: skip
    if api:
        env["CI_API_V4_URL"] = api
    if token:
        env["SLO_LEDGER_API_TOKEN"] = token
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts/ci/ledger.py"), "restore"],
        cwd=workdir, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert TOKEN not in completed.stdout + completed.stderr
    return completed.stdout


def environments(path: Path) -> list[str]:
    with Ledger.open(path, create=False) as ledger:
        return ledger.environments()


def runs(path: Path) -> int:
    with Ledger.open(path, create=False) as ledger:
        return len(ledger.conn.execute("SELECT run_id FROM runs").fetchall())


JOBS = [
    {"id": 14, "name": "slo:report", "pipeline": {"id": int(CURRENT_PIPELINE)}},
    {"id": 13, "name": "probes:scheduled", "pipeline": {"id": 900}},
    {"id": 12, "name": "slo:report", "pipeline": {"id": 900}},  # production's schedule
    {"id": 11, "name": "slo:report", "pipeline": {"id": 899}},  # no ledger in it
    {"id": 10, "name": "slo:report", "pipeline": {"id": 898}},
]


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[int, bytes]:
    production = make_ledger(tmp_path / "prod" / "ledger.sqlite", "production")
    staging = make_ledger(tmp_path / "staging" / "ledger.sqlite", "staging", runs=3)
    return {12: production.read_bytes(), 10: staging.read_bytes(), 14: b"not this pipeline"}


def test_no_cache_the_newest_ledger_of_this_environment_from_the_api(
    tmp_path: Path, artifacts
) -> None:
    work = tmp_path / "job"
    work.mkdir()
    with gitlab_api(JOBS, artifacts) as api:
        out = restore(work, api["url"])
    assert f"ledger: restored {LEDGER} from the artifact of job 10 (the cache had none)" in out
    assert environments(work / LEDGER) == ["staging"] and runs(work / LEDGER) == 3
    assert not any("/jobs/14/" in r for r in api["requests"])  # the running pipeline's own
    assert not list((work / "reports").glob(".ledger-api-*"))


def test_a_newer_cache_is_kept_and_an_older_one_replaced(tmp_path: Path, artifacts) -> None:
    work = tmp_path / "job"
    make_ledger(work / LEDGER, "staging", runs=1)  # ingested after the artifacts: newer
    with gitlab_api(JOBS, artifacts) as api:
        out = restore(work, api["url"])
    assert "the cache's reports/slo-ledger.sqlite is as new as the artifact of job 10" in out
    assert runs(work / LEDGER) == 1
    older = tmp_path / "older"
    make_ledger(older / LEDGER, "staging", runs=2)
    time.sleep(0.05)
    newer = make_ledger(tmp_path / "newer" / "ledger.sqlite", "staging", runs=4)
    with gitlab_api(JOBS, {10: newer.read_bytes()}) as api:
        out = restore(older, api["url"])
    assert "from the artifact of job 10 (newer than the cache's)" in out
    assert runs(older / LEDGER) == 4


def test_without_token_or_api_the_cache_is_used(tmp_path: Path) -> None:
    work = tmp_path / "job"
    make_ledger(work / LEDGER, "staging")
    out = restore(work, None, token=None)
    assert "no SLO_LEDGER_API_TOKEN: the cache is the only source" in out
    assert f"using the cache's {LEDGER}" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no ledger found: a new one starts" in restore(empty, None, token=None)


def test_a_bad_token_or_a_dead_api_never_fails_the_job(tmp_path: Path, artifacts) -> None:
    work = tmp_path / "job"
    make_ledger(work / LEDGER, "staging")
    with gitlab_api(JOBS, artifacts) as api:
        out = restore(work, api["url"], token="glpat-wrong-token")
    assert "API unavailable (RuntimeError: listing jobs answered HTTP 401); using the cache" in out
    assert "glpat-wrong-token" not in out
    assert "API unavailable (ConnectError" in restore(work, "http://127.0.0.1:9/api/v4")
    assert runs(work / LEDGER) == 1


def test_a_corrupt_cached_ledger_is_set_aside(tmp_path: Path, artifacts) -> None:
    work = tmp_path / "job"
    (work / "reports").mkdir(parents=True)
    (work / LEDGER).write_bytes(b"garbage, not SQLite" * 100)
    with gitlab_api(JOBS, artifacts) as api:
        out = restore(work, api["url"])
    assert "is not an SLO ledger: set aside as reports/slo-ledger.sqlite.bad" in out
    assert (work / f"{LEDGER}.bad").is_file() and runs(work / LEDGER) == 3
    shutil.rmtree(work)
