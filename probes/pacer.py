"""A token bucket shared by every pytest process of one run, kept in a locked file.

The target limits per client, and pytest-xdist workers are one client to it.
Every paced request takes a token from this bucket, sized just below the
target's own (`paced`), so the suite spends the whole stated limit and no
probe meets a collateral 429. The rate-limit probe takes the exclusive lock
instead: it waits exactly until the target's bucket is full again
(`quiet_seconds`), drains it, and before it lets the others go tells the
pacer what the target holds by then (`restart`), so nobody waits for a refill
that already happened.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def paced(rate_per_second: float, burst: int, pace_ratio: float) -> tuple[float, float]:
    """The pacer's (rate, capacity) for a target stating `rate_per_second` and `burst`.

    The pacer spends the burst first and then the refill, so a run is bounded by
    the stated limit and not by a fixed share of it. Its bucket is the target's
    less a slack of a tenth of the burst (at least 2 requests; never below 1),
    which absorbs arrivals bunched by network jitter; its rate is `pace_ratio`
    of the refill. Since every paced request takes one token from each bucket
    and the target's refills faster into a larger bucket, the target's deficit
    never exceeds the pacer's: that is what makes `quiet_seconds` exact.
    """
    slack = max(2, math.ceil(burst * 0.1))
    return rate_per_second * pace_ratio, float(max(1, burst - slack))


class Pacer:
    """`clock` must be one every process of the run shares (the default, CLOCK_MONOTONIC,
    is system-wide); a test injects a fake one, with its `sleep`, in a single process."""

    def __init__(
        self,
        state_dir: Path,
        *,
        rate_per_second: float,
        capacity: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self.sleep = sleep
        self.rate_per_second = rate_per_second
        self.capacity = max(1.0, capacity)
        self._bucket = state_dir / "pacer-bucket.json"
        self._gate = state_dir / "pacer-gate.lock"
        state_dir.mkdir(parents=True, exist_ok=True)
        self._gate.touch(exist_ok=True)
        self._bucket.touch(exist_ok=True)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One paced request: wait out any exclusive holder, then take a token."""
        with self._gate_lock(fcntl.LOCK_SH):
            self._take_token()
            yield

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Run alone: no paced request starts until the block ends."""
        with self._gate_lock(fcntl.LOCK_EX):
            yield

    def quiet_seconds(self) -> float:
        """How long until the target refilled whatever this bucket let through: the
        bucket's deficit now at the pacer's rate (the target refills at least as fast).
        0 when no paced request spent anything lately. Call it under `exclusive`, so
        that nothing spends while the caller waits."""
        with open(self._bucket, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            raw = handle.read()
        if not raw:
            return 0.0
        state = json.loads(raw)
        tokens = min(
            self.capacity,
            state["tokens"] + (self.clock() - state["t"]) * self.rate_per_second,
        )
        return (self.capacity - tokens) / self.rate_per_second

    def restart(self, tokens: float) -> None:
        """Set the bucket to `tokens` now (capped at the capacity; below 1 the next request
        waits for the refill, below 0 for the debt too).

        The rate-limit probe calls it under `exclusive` when it hands the target back:
        during its drain this bucket went on refilling as if nothing was spent, so
        without it the others would burst into a target that has just been emptied.
        """
        state = {"tokens": min(self.capacity, tokens), "t": self.clock()}
        with open(self._bucket, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(state))

    @contextmanager
    def _gate_lock(self, mode: int) -> Iterator[None]:
        fd = os.open(self._gate, os.O_RDWR)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _take_token(self) -> None:
        while True:
            with open(self._bucket, "r+", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                now = self.clock()
                raw = handle.read()
                state = json.loads(raw) if raw else {"tokens": self.capacity, "t": now}
                tokens = min(
                    self.capacity, state["tokens"] + (now - state["t"]) * self.rate_per_second
                )
                if tokens >= 1:
                    handle.seek(0)
                    handle.truncate()
                    handle.write(json.dumps({"tokens": tokens - 1, "t": now}))
                    return
                wait = (1 - tokens) / self.rate_per_second
            self.sleep(wait)
