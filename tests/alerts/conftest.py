"""Fixtures for the alert self-tests: a webhook receiver, a real Alertmanager routing to
one, and synthetic probe runs."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import support

# tests/ is on pythonpath but this folder is not; its helper module has a unique name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


ALERTMANAGER = shutil.which("prometheus-alertmanager")


@dataclass
class RunningAlertmanager:
    url: str
    receiver: Receiver
    path: str = "/alertmanager"  # where it posts its webhook notifications

    def notifications(self) -> list[Any]:
        return self.receiver.bodies(self.path)


@pytest.fixture
def alertmanager(receiver: Receiver, tmp_path: Path) -> Iterator[RunningAlertmanager]:
    """A real Alertmanager (Debian `prometheus-alertmanager`) on loopback, no cluster.

    It routes everything to the webhook receiver, one group per environment, with 1 s
    group_wait and group_interval so a notification follows a post within seconds.
    """
    if ALERTMANAGER is None:
        pytest.skip("Debian package prometheus-alertmanager is needed (scripts/bootstrap --dev)")
    port = support.free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [environment]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {receiver.url}/alertmanager\n"
        "        send_resolved: true\n"
    )
    url = f"http://127.0.0.1:{port}"
    command = [
        ALERTMANAGER,
        f"--config.file={config}",
        f"--storage.path={tmp_path / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with support.service(command, f"{url}/-/ready", tmp_path / "alertmanager.log"):
        yield RunningAlertmanager(url, receiver)


@pytest.fixture
def write_run(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def write(records: list[dict[str, Any]]) -> Path:
        path = tmp_path / f"results-{next(counter)}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    return write
