"""The VTT-mode app in process (httpx.ASGITransport), one fresh server state per call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from refserver.config import Settings
from refserver.state import ServerState
from refserver.vtt import create_vtt_app

PEER = ("127.0.0.1", 50000)


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
