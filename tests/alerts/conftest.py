"""Fixtures for the alert self-tests: a webhook receiver and synthetic probe runs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/ is on pythonpath but this folder is not; its helper module has a unique name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture
def write_run(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def write(records: list[dict[str, Any]]) -> Path:
        path = tmp_path / f"results-{next(counter)}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    return write
