"""Fixtures for the GitLab CI self-tests; the runner is in cirunner.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ is on pythonpath but these folders are not; their modules have unique names.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "alerts"))

from cirunner import Config, load
from webhook_receiver import Receiver, webhook_receiver


@pytest.fixture(scope="session")
def ci_config() -> Config:
    return Config(load())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running
