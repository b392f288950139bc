"""Fixtures for the GitLab CI self-tests; the runner is in cirunner.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from webhook_receiver import Receiver, webhook_receiver

# tests/ is on pythonpath but this folder is not; its runner module has a unique name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cirunner import Config, load


@pytest.fixture(scope="session")
def ci_config() -> Config:
    return Config(load())


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running
