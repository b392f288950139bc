"""Fixtures for the GitLab CI self-tests; the runner is in cirunner.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# tests/ is on pythonpath but these folders are not; their modules have unique names.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "alerts"))

from cirunner import Config, load
from webhook_receiver import Receiver, webhook_receiver

PUSHGATEWAY = shutil.which("prometheus-pushgateway")


@pytest.fixture(scope="session")
def ci_config() -> Config:
    return Config(load())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pushgateway(tmp_path: Path) -> Iterator[str]:
    """A real Pushgateway (Debian `prometheus-pushgateway`) on loopback."""
    if PUSHGATEWAY is None:
        pytest.skip("Debian package prometheus-pushgateway is needed (scripts/bootstrap --dev)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "pushgateway.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"pushgateway did not start: {(tmp_path / 'pushgateway.log').read_text()}"
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
