"""Fixtures for the reference server's self-tests.

Unit tests drive the ASGI apps (both modes: SpaceTime's two apps, ``make_harness``;
the VTT app, ``make_vtt``) in process through ``httpx.ASGITransport``
(``starlette.testclient`` warns on import with plain httpx, and warnings are
errors here), with a fake monotonic clock so rate-limit and stall behaviour
is exact. Integration tests start ``python -m refserver`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from refserver.app import create_app, create_manager_app
from refserver.config import Settings
from refserver.state import ServerState
from refserver.vtt import create_vtt_app

PEER = ("127.0.0.1", 50000)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """Both apps around one ``ServerState``, with a synchronous request helper."""

    settings: Settings
    state: ServerState
    clock: FakeClock
    api: Any = field(init=False)
    manager: Any = field(init=False)

    def __post_init__(self) -> None:
        self.api = create_app(self.settings, self.state)
        self.manager = create_manager_app(self.settings, self.state)

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        authorized: bool = True,
        headers: dict[str, str] | None = None,
        peer: tuple[str, int] = PEER,
        manager: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        return asyncio.run(
            self.arequest(
                method,
                path,
                authorized=authorized,
                headers=headers,
                peer=peer,
                manager=manager,
                **kwargs,
            )
        )

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        authorized: bool = True,
        headers: dict[str, str] | None = None,
        peer: tuple[str, int] = PEER,
        manager: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = {**(self.auth if authorized else {}), **(headers or {})}
        app = self.manager if manager else self.api
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://refserver") as client:
            return await client.request(method, path, headers=all_headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post_scene(self, scene_path: Any, method: str = "POST", **kwargs: Any) -> httpx.Response:
        return self.request(method, "/scene", json={"scene_path": scene_path}, **kwargs)


MakeHarness = Callable[..., Harness]


@pytest.fixture
def make_harness() -> Iterator[MakeHarness]:
    """``make_harness("fault-a", burst=3, ...)``: a fresh server state per call."""
    made: list[Harness] = []

    def make(*faults: str, **overrides: Any) -> Harness:
        clock = FakeClock()
        settings = replace(Settings(), faults=frozenset(faults), **overrides)
        state = ServerState.create(settings, clock=clock)
        harness = Harness(settings, state, clock)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.state.close()


@pytest.fixture
def harness(make_harness: MakeHarness) -> Harness:
    """A conforming server."""
    return make_harness()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenForge:
    """Builds the tokens an attacker would send; a fixture because tests cannot import conftest."""

    @staticmethod
    def claims(issuer: str = "spacetime", **overrides: Any) -> dict[str, Any]:
        """Valid claims for ``issuer``; an override of ``None`` removes that claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": "x",
            "iss": issuer,
            "iat": now - 10,
            "nbf": now - 10,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    @staticmethod
    def unsigned(claims: dict[str, Any], alg: str = "none", signature: str = "") -> str:
        """A JWT with an arbitrary header alg and signature segment (alg-none attacks)."""
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = b64url(json.dumps(claims).encode())
        return f"{header}.{payload}.{signature}"

    @staticmethod
    def signed(claims: dict[str, Any], secret: bytes) -> str:
        return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
def forge() -> TokenForge:
    return TokenForge()


@dataclass
class RunningServer:
    """A ``python -m refserver`` subprocess and what its ready file said."""

    process: subprocess.Popen[bytes]
    port: int
    manager_port: int
    workdir: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def manager_url(self) -> str:
        return f"http://127.0.0.1:{self.manager_port}"

    @property
    def token(self) -> str:
        return (self.workdir / "jwt_token.txt").read_text()

    def stop(self, timeout: float = 5.0) -> float:
        """SIGTERM; returns how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started


def start_server(workdir: Path, *args: str, timeout: float = 10.0) -> RunningServer:
    """Start the server on free ports and wait (bounded) for its ready file."""
    ready = workdir / "ready.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFSERVER_")}
    command = [sys.executable, "-m", "refserver", "--port", "0", "--manager-port", "0"]
    process = subprocess.Popen(
        [*command, "--ready-file", str(ready), *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"server exited {process.returncode}: {err.decode()}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            raise AssertionError("server did not become ready in time")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    assert info["pid"] == process.pid
    return RunningServer(process, info["port"], info["manager_port"], workdir)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """``server(*args)`` starts one; any still running at teardown is killed."""
    started: list[RunningServer] = []

    def start(*args: str) -> RunningServer:
        running = start_server(tmp_path, *args)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.process.communicate()


@dataclass
class VttHarness:
    settings: Settings
    state: ServerState
    app: Any = field(init=False)

    def __post_init__(self) -> None:
        self.app = create_vtt_app(self.settings, self.state)

    def get(self, path: str, *, authorized: bool = False) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.state.token}"} if authorized else {}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=PEER)
            async with httpx.AsyncClient(transport=transport, base_url="http://vtt") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(send())


MakeVtt = Callable[..., VttHarness]


@pytest.fixture
def make_vtt() -> Iterator[MakeVtt]:
    """``make_vtt("fault", failing_checks=frozenset({"database"}), ...)``."""
    made: list[VttHarness] = []

    def make(*faults: str, **overrides: Any) -> VttHarness:
        options = {"burst": 1000, **overrides}
        settings = replace(Settings(), mode="vtt", faults=frozenset(faults), **options)
        harness = VttHarness(settings, ServerState.create(settings))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.state.close()
