"""``python -m refserver`` as a subprocess: real sockets, ready file, signals, exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from refserver.faults import FAULTS

pytestmark = pytest.mark.integration


def _run(args: list[str], cwd: Path, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFSERVER_")}
    return subprocess.run(
        [sys.executable, "-m", "refserver", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2
    assert result.stderr.startswith("refserver: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr


def test_serves_both_ports_and_stops_on_sigterm(server: Callable[..., Any], tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    running = server("--request-log", str(log))
    token_file = tmp_path / "jwt_token.txt"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = running.token
    with httpx.Client(base_url=running.base_url, timeout=5) as client:
        assert client.get("/performance").status_code == 401
        authed = client.get("/performance", headers={"Authorization": f"Bearer {token}"})
        assert authed.status_code == 200
        assert authed.headers["content-type"] == "application/json"
        assert authed.json()["engine"]["fps"] == 90.0
        assert "server" not in authed.headers
        loaded = client.post(
            "/scene",
            json={"scene_path": "res://scenes/lobby.tscn"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert loaded.json()["status"] == "loaded"
    health = httpx.get(f"{running.manager_url}/health", timeout=5)
    assert health.status_code == 200
    assert health.json()["scene"]["name"] == "lobby"
    assert health.json()["godot_process"]["pid"] == running.process.pid

    elapsed = running.stop()
    assert running.process.returncode == 0
    assert elapsed < 3.0
    _, err = running.process.communicate()
    assert token.encode() not in err
    assert not (tmp_path / "ready.json").exists()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/performance", 401),
        ("GET", "/performance", 200),
        ("POST", "/scene", 200),
    ]
    assert token not in log.read_text()


def test_sigint_also_stops_cleanly(server: Callable[..., Any]) -> None:
    running = server()
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=5) == 0


def test_rate_limit_over_real_sockets(server: Callable[..., Any]) -> None:
    running = server("--burst", "3", "--rate", "0.5")
    with httpx.Client(base_url=running.base_url, timeout=5) as client:
        statuses = [client.get("/status").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get("/jobs")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"] == "rate_limited"


def test_fault_flag_applies(server: Callable[..., Any]) -> None:
    running = server("--fault", "perf-low-fps", "--fault", "auth-open-route")
    with httpx.Client(base_url=running.base_url, timeout=5) as client:
        assert client.get("/jobs").status_code == 200
        headers = {"Authorization": f"Bearer {running.token}"}
        assert client.get("/performance", headers=headers).json()["engine"]["fps"] == 42.0


def test_latency_flag_over_real_sockets(server: Callable[..., Any]) -> None:
    running = server("--latency-ms", "120")
    with httpx.Client(base_url=running.base_url, timeout=5) as client:
        client.get("/status")  # warm the connection
        started = time.perf_counter()
        client.get("/status")
        assert time.perf_counter() - started >= 0.12


def test_service_time_flags_over_real_sockets(server: Callable[..., Any]) -> None:
    """Every answer in the tail (ratio 1): the API and the manager both wait the tail delay."""
    running = server(
        "--latency-ms", "5", "--latency-jitter-ms", "3",
        "--latency-tail-ratio", "1", "--latency-tail-ms", "150", "--latency-seed", "1",
    )  # fmt: skip
    for base, path in ((running.base_url, "/status"), (running.manager_url, "/health")):
        with httpx.Client(base_url=base, timeout=5) as client:
            client.get(path)  # warm the connection
            started = time.perf_counter()
            assert client.get(path).status_code == 200
            assert time.perf_counter() - started >= 0.15, path


def test_no_issuer_token_file_over_real_sockets(server: Callable[..., Any]) -> None:
    running = server("--no-issuer", "--audience", "spacetime-api", "--max-token-lifetime", "900")
    claims = jwt.decode(running.token, options={"verify_signature": False})
    assert "iss" not in claims
    assert claims["aud"] == "spacetime-api" and claims["exp"] - claims["iat"] == 900
    headers = {"Authorization": f"Bearer {running.token}"}
    assert httpx.get(f"{running.base_url}/jobs", headers=headers, timeout=5).status_code == 200


def test_claim_fault_without_its_option_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run(
        ["--fault", "auth-ignore-audience", "--port", "0", "--manager-port", "0"], tmp_path
    )
    _assert_one_line_error(result, "needs --audience")
    result = _run(["--issuer", "a", "--no-issuer"], tmp_path)
    _assert_one_line_error(result, "not allowed with")


def test_list_faults(tmp_path: Path) -> None:
    result = _run(["--list-faults"], tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == list(FAULTS)
    for line in lines:
        name, family, description, mode = line.split("\t")
        assert family == FAULTS[name].family and description and mode == FAULTS[name].mode


def test_unknown_fault_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run(["--fault", "auth-typo", "--port", "0", "--manager-port", "0"], tmp_path)
    _assert_one_line_error(result, "unknown fault 'auth-typo'")
    assert "auth-open-route" in result.stderr
    assert not (tmp_path / "jwt_token.txt").exists()


def test_bad_flag_value_is_a_one_line_error(tmp_path: Path) -> None:
    _assert_one_line_error(_run(["--burst", "zero"], tmp_path), "--burst")


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(["--port", str(port), "--manager-port", "0"], tmp_path)
    _assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_unreadable_secret_file_is_a_one_line_error(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    result = _run(
        ["--secret-file", str(secret_dir), "--port", "0", "--manager-port", "0"], tmp_path
    )
    _assert_one_line_error(result, "secret")


def test_unwritable_request_log_is_a_one_line_error(tmp_path: Path) -> None:
    log = tmp_path / "no-such-dir" / "requests.jsonl"
    result = _run(["--request-log", str(log), "--port", "0", "--manager-port", "0"], tmp_path)
    _assert_one_line_error(result, "requests.jsonl")


def test_secret_file_makes_tokens_survive_a_restart(
    server: Callable[..., Any], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.key"
    first = server("--secret-file", str(secret))
    token = first.token
    first.stop()
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    second = server("--secret-file", str(secret))
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{second.base_url}/jobs", headers=headers, timeout=5).status_code == 200
