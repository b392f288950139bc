"""Fixtures for the load-profile self-tests; the helpers are in loadrun.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# tests/ is on pythonpath but this folder is not; its helper module has a unique name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadrun import LOCUST_TIMEOUT_S, LocustRun, refserver, run_locust
from support import RunningServer


@pytest.fixture
def locust_run(tmp_path: Path) -> Callable[..., LocustRun]:
    counter = iter(range(1000))

    def run(*args: str, timeout: float = LOCUST_TIMEOUT_S) -> LocustRun:
        return run_locust(tmp_path / f"run{next(counter)}", *args, timeout=timeout)

    return run


@pytest.fixture(scope="module")
def conforming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The conforming server with a limit high enough never to answer 429."""
    with refserver(
        tmp_path_factory.mktemp("conforming"), "--rate", "100000", "--burst", "100000"
    ) as s:
        yield s
