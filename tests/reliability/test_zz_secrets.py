"""No secret in anything the suite writes: reports, Allure, JUnit, logs, ledger, output.

Self-contained (CI runs `pytest -n 2 tests`, so "after the whole run" cannot
mean after the other tests): representative probe runs with a known token
and signing secret, failures included so failure lines, curl commands and
Allure's exception details are exercised, one under xdist, one against a
target that echoes the Authorization header into every header and body a
probe quotes from. Their results are counted into an SLO ledger as a CI job
does. Then every file under their output directories, the ledger, the
reference server's own files, reports/ and the captured output are scanned
for the token, each of its segments and the secret: zero hits.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from reliability.harness import MeasuredRun, run_measured, save_row, write_profile
from reliability.hostile import HostileServer
from support import ROOT, refserver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "st-selftest-signing-secret-7f3a9c1e5b2d8f40a6c4e2b1d9f7a5c3"
JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
MAX_SCAN_BYTES = 64 * 1024 * 1024
FAULTS = (
    "auth-skip-signature",  # forged tokens accepted: failures quoting the forged requests
    "contract-error-body",  # text/plain error bodies: content-type and body quoted
    "traversal-single-decode",  # traversal failures with payloads and curl bodies
    "ratelimit-no-retry-after",
)


def _needles(token: str) -> dict[str, str]:
    _header, payload, signature = token.split(".")
    return {"token": token, "payload segment": payload, "signature segment": signature,
            "secret": SECRET}  # fmt: skip


def _read(path: Path) -> str:
    try:
        return path.read_bytes()[:MAX_SCAN_BYTES].decode("utf-8", errors="replace")
    except OSError:
        return ""


def _hits(texts: dict[str, str], needles: dict[str, str], *, jwt_shapes: bool) -> list[str]:
    hits = []
    for where, text in texts.items():
        hits += [f"{name} in {where}" for name, needle in needles.items() if needle in text]
        shape = JWT_LIKE.search(text) if jwt_shapes else None
        if shape:
            hits.append(f"JWT-shaped text in {where}: {shape.group()[:12]}...")
    return hits


def test_no_secret_anywhere_the_suite_writes(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    (server_dir / "secret.txt").write_text(SECRET)
    (server_dir / "secret.txt").chmod(0o600)
    runs: dict[str, MeasuredRun] = {}
    fault_args = [arg for fault in FAULTS for arg in ("--fault", fault)]
    with refserver(server_dir, "--rate", "200", "--burst", "40", *fault_args) as server:
        token = server.token_file.read_text().strip()
        assert jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_aud": False})
        common = [
            f"--st-target={server.base_url}", f"--st-manager-url={server.manager_url}",
            f"--st-token-file={server.token_file}", f"--st-secret-file={server.secret_file}",
        ]  # fmt: skip
        profile = write_profile(tmp_path / "fast.yaml", timeout_s=5, rate=200, burst=40)
        runs["xdist, four faults"] = run_measured(
            tmp_path / "out-xdist", *common, f"--st-profile={profile}", "-n", "2",
            "--st-examples=2", "-k", "test_auth and (GET/jobs or POST/scene-) or test_contract "
            "or test_health or test_performance or test_rate_limit or test_traversal and single",
            timeout=300,
        )  # fmt: skip
        runs["serial, tracebacks long, locals shown"] = run_measured(
            tmp_path / "out-serial", *common, "--st-profile=embedded", "--tb=long", "-l", "-rA",
            "-k", "test_auth and GET/scenes- or test_rate_limit or test_contract",
        )  # fmt: skip
    with HostileServer("echo") as echo:
        runs["target echoing the token"] = run_measured(
            tmp_path / "out-echo", f"--st-target={echo.url}", f"--st-manager-url={echo.url}",
            f"--st-token-file={server.token_file}", f"--st-secret-file={server.secret_file}",
            f"--st-profile={profile}", "-l",
            "-k", "test_auth and GET/jobs or test_contract or test_health or test_performance",
        )  # fmt: skip
        assert any(token in r.headers.get("authorization", "") for r in echo.received)

    for name, run in runs.items():
        assert run.returncode == 1, f"{name}: exit {run.returncode}\n{run.output[-2000:]}"
        assert run.failing(), name
    assert any("reproduce: curl" in (r["reason"] or "") for run in runs.values()
               for r in run.failing())  # fmt: skip

    captured = {f"captured output of the {name} run": run.output for name, run in runs.items()}
    # The ledger a scheduled job keeps: the runs' results counted into it as CI does.
    ledger = tmp_path / "slo-ledger.sqlite"
    ingest = subprocess.run(
        [sys.executable, "-m", "slo", "ingest", "--ledger", str(ledger),
         *(str(run.run.results) for run in runs.values())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ingest.returncode == 0 and ledger.stat().st_size > 0, ingest.stderr
    captured["output of slo ingest"] = ingest.stdout + ingest.stderr

    inputs = {server.token_file, server.secret_file}
    ours = [p for p in tmp_path.rglob("*") if p.is_file() and p not in inputs]
    shared = [p for p in (ROOT / "reports").rglob("*") if p.is_file()]
    needles = _needles(token)
    # Our own outputs hold no JWT shape at all; reports/ is shared with other runs' files.
    hits = _hits({**captured, **{str(p): _read(p) for p in ours}}, needles, jwt_shapes=True)
    hits += _hits({str(p): _read(p) for p in shared}, needles, jwt_shapes=False)
    assert not hits, "\n".join(hits[:30])
    written = [*ours, *shared]
    allure = [p for p in written if "allure-results" in p.parts and str(tmp_path) in str(p)]
    assert len(allure) > 50
    save_row("reliability", "secrets-scan", {
        "name": "secrets scan",
        "figures": f"{len(written)} files (the SLO ledger among them) and {len(captured)} "
                   f"captured outputs from "
                   f"{len(runs)} runs ({sum(len(r.failing()) for r in runs.values())} failures, "
                   f"{len(allure)} Allure files): 0 hits for the token, its segments, "
                   "the signing secret or any JWT shape (runs: "
                   + ", ".join(f"{n} {r.wall_s:.0f} s" for n, r in runs.items()) + ")",
    })  # fmt: skip
