"""The shared pacer bounds the request rate across processes, and the exclusive lock excludes."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from probes.pacer import Pacer, paced

RATE = 50.0
CAPACITY = 5.0


def _take(state_dir: str, count: int, out: multiprocessing.Queue) -> None:
    pacer = Pacer(Path(state_dir), rate_per_second=RATE, capacity=CAPACITY)
    stamps = []
    for _ in range(count):
        with pacer.slot():
            stamps.append(time.monotonic())
    out.put(stamps)


def test_three_processes_share_one_budget(tmp_path: Path) -> None:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_take, args=(str(tmp_path), 20, queue)) for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    stamps = sorted(t for _ in workers for t in queue.get(timeout=30))
    for worker in workers:
        worker.join(timeout=10)
    span = stamps[-1] - stamps[0]
    # 60 tokens: at most CAPACITY at once, the rest at RATE per second.
    assert span >= (60 - CAPACITY - 1) / RATE * 0.95
    # No window of one second ever saw more than capacity + rate.
    for i, start in enumerate(stamps):
        inside = sum(1 for t in stamps[i:] if t - start <= 1.0)
        assert inside <= CAPACITY + RATE + 1


def _hold_exclusive(state_dir: str, hold_s: float, started: multiprocessing.Event) -> None:
    pacer = Pacer(Path(state_dir), rate_per_second=RATE, capacity=CAPACITY)
    with pacer.exclusive():
        started.set()
        time.sleep(hold_s)


def test_exclusive_blocks_paced_requests(tmp_path: Path) -> None:
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_exclusive, args=(str(tmp_path), 0.6, started))
    holder.start()
    assert started.wait(timeout=10)
    pacer = Pacer(tmp_path, rate_per_second=RATE, capacity=CAPACITY)
    began = time.monotonic()
    with pacer.slot():
        waited = time.monotonic() - began
    holder.join(timeout=10)
    assert waited >= 0.4


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_bucket_spends_its_capacity_then_waits_exactly_for_each_refill(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    pacer = Pacer(tmp_path, rate_per_second=10, capacity=3, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        with pacer.slot():
            pass
    assert clock.slept == pytest.approx([0.1, 0.1])  # 3 at once, then one per refill
    clock.now += 10  # a long pause refills to the capacity, never beyond
    for _ in range(3):
        with pacer.slot():
            pass
    assert len(clock.slept) == 2


def test_quiet_seconds_is_the_deficit_now_at_the_pacers_rate(tmp_path: Path) -> None:
    clock = FakeClock()
    pacer = Pacer(tmp_path, rate_per_second=10, capacity=3, clock=clock, sleep=clock.sleep)
    assert pacer.quiet_seconds() == 0  # nothing spent yet: the rate-limit probe need not wait
    for _ in range(3):
        with pacer.slot():
            pass
    assert pacer.quiet_seconds() == pytest.approx(0.3)
    clock.now += 0.1
    assert pacer.quiet_seconds() == pytest.approx(0.2)
    clock.now += 10
    assert pacer.quiet_seconds() == 0


@pytest.mark.parametrize(
    ("rate", "burst", "ratio", "expected"),
    [
        (50, 50, 0.95, (47.5, 45.0)),  # a tenth of the burst is the slack
        (10, 20, 0.95, (9.5, 18.0)),  # at least 2 requests of slack
        (100, 100, 1.0, (100.0, 90.0)),
        (1, 2, 0.95, (0.95, 1.0)),  # never below one token
        (1, 1, 0.95, (0.95, 1.0)),
    ],
)
def test_paced_spends_the_burst_less_a_slack_and_the_refill_at_the_ratio(
    rate: float, burst: int, ratio: float, expected: tuple[float, float]
) -> None:
    assert paced(rate, burst, ratio) == pytest.approx(expected)


def test_restart_sets_what_the_next_requests_may_spend(tmp_path: Path) -> None:
    clock = FakeClock()
    pacer = Pacer(tmp_path, rate_per_second=10, capacity=3, clock=clock, sleep=clock.sleep)
    pacer.restart(0.0)  # the target was just emptied: the next request waits one refill
    with pacer.slot():
        pass
    assert clock.slept == pytest.approx([0.1])
    pacer.restart(-1.0)  # a debt: two refills before the next
    with pacer.slot():
        pass
    assert clock.slept == pytest.approx([0.1, 0.2])
    pacer.restart(99.0)  # never beyond the capacity
    for _ in range(3):
        with pacer.slot():
            pass
    assert len(clock.slept) == 2
    assert pacer.quiet_seconds() == pytest.approx(0.3)
