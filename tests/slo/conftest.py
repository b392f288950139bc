"""Fixtures for the SLO module's self-tests: results files built from the documented
format (``slo.synth``), a ledger, an in-process CLI runner, and for the notices a
webhook receiver and a real Alertmanager routing to it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import support
from webhook_receiver import Receiver, webhook_receiver

from slo import synth
from slo.cli import main

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z: every test judges at a fixed instant


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``slo ...`` in-process; returns exit code and captured output."""

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_results(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts) as a JSON Lines results file under ``tmp_path``."""

    def write(records: Iterable[dict], name: str = "results.jsonl") -> Path:
        path = tmp_path / name
        path.write_text(synth.dumps(records), encoding="utf-8")
        return path

    return write


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


HOUR = 3600


def burning_history(base: float, hours: int = 8) -> list[dict]:
    """Runs every 5 minutes for ``hours`` on two endpoints; healthy at first, then 503s
    and slow answers in the last 90 minutes, so page alerts fire at the end."""
    records: list[dict] = []
    runs = hours * 12
    for k in range(runs):
        ts = base + k * 300 + 30
        late = k >= runs - 18
        for j, endpoint in enumerate((("GET", "/scenes"), ("POST", "/scene"))):
            bad = (3 + j) if late else (1 if k % 20 == 7 else 0)
            slow = 4 if late else (1 if k % 9 == 2 else 0)
            records += synth.simple_run(k * 2 + j, ts, good=30 - bad - slow, bad=bad, slow=slow,
                                        endpoint=endpoint)  # fmt: skip
    return records


@pytest.fixture
def burning() -> Callable[..., list[dict]]:
    return burning_history


def counter_series(ledger_path: Path, spec, base: int, minutes: int) -> dict[tuple, list[float]]:
    """Cumulative ``slo_events_total``/``slo_good_events_total`` per minute from the ledger.

    The value at ``base + i*60`` holds every event of the buckets before it, which is what
    a counter scraped at that instant would hold.
    """
    from slo.store import Ledger

    series: dict[tuple, list[float]] = {}
    with Ledger.open(ledger_path, create=False) as ledger:
        for slo in spec.slos:
            rows = ledger.slo_rows(slo.name, "production", ["probe"], base, base + minutes * 60)
            for endpoint_key, points in rows.items():
                method, endpoint = endpoint_key.split(" ", 1)
                per_minute = {int((b - base) // 60): (g, t) for b, g, t in points}
                for metric, index in (("slo_good_events_total", 0), ("slo_events_total", 1)):
                    labels = (metric, slo.name, "production", "probe", method, endpoint)
                    values, running = [], 0.0
                    for i in range(minutes + 1):
                        values.append(running)
                        running += per_minute.get(i, (0.0, 0.0))[index]
                    series[labels] = values
    return series


def series_selector(labels: tuple) -> str:
    metric, slo, environment, source, method, endpoint = labels
    return (
        f'{metric}{{slo="{slo}",environment="{environment}",source="{source}",'
        f'method="{method}",endpoint="{endpoint}"}}'
    )


@pytest.fixture
def counters() -> Callable[..., dict[tuple, list[float]]]:
    return counter_series


@pytest.fixture
def selector_of() -> Callable[[tuple], str]:
    return series_selector


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
    """Each call a new results file (``write_results`` rewrites one named file)."""
    counter = iter(range(1000))

    def write(records: list[dict[str, Any]]) -> Path:
        path = tmp_path / f"results-{next(counter)}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    return write
