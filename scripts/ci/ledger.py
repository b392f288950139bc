#!/usr/bin/env python3
"""Bring the SLO ledger into a CI job: the GitLab cache's copy, or a newer one from the API.

    python scripts/ci/ledger.py restore [--ledger reports/slo-ledger.sqlite]

The scheduled pipeline keeps its ledger two ways (docs/gitlab.md, "The ledger between
runs"): as the GitLab cache ``slo-ledger-$ST_ENVIRONMENT`` (no set-up, best effort) and
as an artifact of the ``slo:report`` job (kept for ``expire_in``). The cache has already
been restored at the ledger's path when this runs. With ``SLO_LEDGER_API_TOKEN`` set (a
project access token with ``read_api``, as a masked CI/CD variable), this also fetches
the ledger from the newest successful ``slo:report`` job of another pipeline through the
Jobs API, and keeps whichever copy saw the later ingest. A missing cache, an
unreachable API or a bad token are one line each and never fail the job: a job without
any ledger starts a new one.

Reads ``CI_API_V4_URL``, ``CI_PROJECT_ID``, ``CI_PIPELINE_ID``, ``ST_ENVIRONMENT``,
``SLO_LEDGER_JOB`` (default ``slo:report``); never prints the token.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx

MAX_JOBS = 20  # successful ledger jobs tried, newest first
PAGES = 3


def say(line: str) -> None:
    print(f"ledger: {line}", flush=True)


def last_ingest(path: Path) -> tuple[float, list[str]] | None:
    """(latest ingest time, environments) of an SLO ledger; None if it is not one."""
    from slo.store import APPLICATION_ID

    try:
        # immutable: no -wal/-shm beside a file we may throw away; CI copies are checkpointed
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            return None
        latest = conn.execute("SELECT max(ingested_at) FROM runs").fetchone()[0]
        envs = [r[0] for r in conn.execute("SELECT DISTINCT environment FROM runs")]
        return float(latest or 0.0), envs
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def candidate_jobs(client: httpx.Client, api: str, project: str, name: str) -> Iterator[dict]:
    """Successful jobs called ``name``, newest first, of pipelines other than this one."""
    current = os.environ.get("CI_PIPELINE_ID")
    seen = 0
    for page in range(1, PAGES + 1):
        response = client.get(
            f"{api}/projects/{quote(project, safe='')}/jobs",
            params={"scope[]": "success", "per_page": "100", "page": str(page)},
        )
        if response.status_code != 200:
            raise RuntimeError(f"listing jobs answered HTTP {response.status_code}")
        jobs = response.json()
        if not isinstance(jobs, list) or not jobs:
            return
        for job in sorted(jobs, key=lambda j: j.get("id", 0), reverse=True):
            pipeline = job.get("pipeline") or {}
            if job.get("name") != name or str(pipeline.get("id")) == current:
                continue
            yield job
            seen += 1
            if seen >= MAX_JOBS:
                return


def fetch(ledger: Path, environment: str | None) -> tuple[Path, str] | None:
    """The newest ledger artifact for the environment, downloaded to a temporary file."""
    token = os.environ.get("SLO_LEDGER_API_TOKEN")
    api = os.environ.get("CI_API_V4_URL")
    project = os.environ.get("CI_PROJECT_ID")
    if not token:
        say("no SLO_LEDGER_API_TOKEN: the cache is the only source")
        return None
    if not api or not project:
        say("CI_API_V4_URL or CI_PROJECT_ID unset: cannot ask the API")
        return None
    name = os.environ.get("SLO_LEDGER_JOB", "slo:report")
    artifact = quote(ledger.as_posix(), safe="/")
    headers = {"PRIVATE-TOKEN": token}
    try:
        with httpx.Client(headers=headers, timeout=30.0, follow_redirects=True) as client:
            for job in candidate_jobs(client, api.rstrip("/"), project, name):
                url = f"{api.rstrip('/')}/projects/{quote(project, safe='')}/jobs/{job['id']}"
                response = client.get(f"{url}/artifacts/{artifact}")
                if response.status_code == 404:
                    continue
                if response.status_code != 200:
                    say(f"job {job['id']}: artifact answered HTTP {response.status_code}")
                    continue
                fd, tmp = tempfile.mkstemp(prefix=".ledger-api-", dir=ledger.parent)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(response.content)
                facts = last_ingest(Path(tmp))
                if facts is None or (environment and facts[1] and environment not in facts[1]):
                    os.unlink(tmp)
                    continue  # not a ledger, or another environment's
                return Path(tmp), f"job {job['id']}"
    except (httpx.HTTPError, RuntimeError, ValueError) as exc:
        # httpx messages can carry the URL, never the token (it is a header)
        say(f"API unavailable ({type(exc).__name__}: {str(exc)[:120]}); using the cache")
        return None
    say(f"no earlier {name} job with {ledger} in its artifacts")
    return None


def restore(ledger: Path, environment: str | None) -> int:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    cached = last_ingest(ledger) if ledger.is_file() else None
    if ledger.is_file() and cached is None:
        say(f"{ledger} from the cache is not an SLO ledger: set aside as {ledger}.bad")
        shutil.move(ledger, f"{ledger}.bad")
    fetched = fetch(ledger, environment)
    if fetched is None:
        say(f"using the cache's {ledger}" if cached else "no ledger found: a new one starts")
        return 0
    tmp, origin = fetched
    remote = last_ingest(tmp)
    assert remote is not None
    if cached is not None and cached[0] >= remote[0]:
        os.unlink(tmp)
        say(f"the cache's {ledger} is as new as the artifact of {origin}: kept")
        return 0
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{ledger}{suffix}")
    os.replace(tmp, ledger)
    say(f"restored {ledger} from the artifact of {origin}" + (
        " (newer than the cache's)" if cached else " (the cache had none)"
    ))  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("restore",))
    parser.add_argument(
        "--ledger",
        type=Path,
        default=Path(os.environ.get("SLO_LEDGER", "reports/slo-ledger.sqlite")),
    )
    parser.add_argument("--environment", default=os.environ.get("ST_ENVIRONMENT"))
    args = parser.parse_args(argv)
    return restore(args.ledger, args.environment)


if __name__ == "__main__":
    sys.exit(main())
