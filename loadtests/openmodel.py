"""Open model: a constant arrival rate that does not wait for the server (k6's
constant-arrival-rate, wrk2's -R; Locust has none, locust#646).

Each `ArrivalUser` is a dispatcher: it sends its share of `--st-open-rate`
at the times `ArrivalSchedule` says, each request in its own greenlet over a
bounded pool of `--st-open-connections` connections. A request goes out when
it is due or, if every connection is busy (or a 429's Retry-After is being
honoured), as soon as one frees: late, and its latency is measured from when
it was due (coordinated omission corrected) as well as from when it left
(uncorrected). One that cannot leave within `--st-open-drop-s` is dropped and
counted. The bookkeeping is `schedule.py`; this module only sleeps and sends.
"""

from __future__ import annotations

import math
import time
from typing import Any

import gevent
from gevent.pool import Pool
from locust import task

from loadtests import state
from loadtests.schedule import ArrivalSchedule
from loadtests.traffic import Call, interleave
from loadtests.users import SpaceTimeUser


def dispatcher_count(configured: int | None, workers: int, distributed: bool) -> int:
    """How many dispatchers share the rate: as configured, else one per worker process."""
    if configured:
        return configured
    return max(1, workers) if distributed else 1


class ArrivalUser(SpaceTimeUser):
    """One dispatcher of the open model; only the open-model shape spawns it."""

    def __init__(self, environment: Any) -> None:
        found = state.of(environment)
        model = found.settings.open_model if found is not None else None
        if found is None or model is None:
            raise RuntimeError("ArrivalUser runs only with --st-open-rate")
        self._dispatchers = found.dispatchers
        self.concurrency = max(1, math.ceil(model.connections / self._dispatchers))
        super().__init__(environment)

    def wait_time(self) -> float:
        return 0.0

    @task
    def arrive(self) -> None:
        model = self.st.settings.open_model
        if model is None:
            raise RuntimeError("ArrivalUser runs only with --st-open-rate")
        schedule = ArrivalSchedule(
            model.rate_per_s / self._dispatchers,
            time.time(),
            late_after_s=model.late_after_s,
            drop_after_s=model.drop_after_s,
        )
        pool = Pool(self.concurrency)
        calls = interleave(self.st.operator_mix)
        try:
            while True:
                self._sleep_until(max(schedule.next_due(), self._not_before))
                pool.wait_available()
                claim = schedule.claim(time.time())
                counts = self.st.book.open_counts  # swapped on each worker report: look up now
                counts.intended += 1 + claim.dropped
                counts.dropped += claim.dropped
                counts.sent += 1
                counts.late += claim.late
                self._sleep_until(claim.intended_s)
                pool.spawn(self._fire, next(calls), claim.intended_s)
        finally:
            unsent = schedule.finish(time.time())
            self.st.book.open_counts.intended += unsent
            self.st.book.open_counts.unsent += unsent
            pool.kill(block=False)

    def _fire(self, call: Call, intended_s: float) -> None:
        self.send(call, intended_s=intended_s)

    @staticmethod
    def _sleep_until(when_s: float) -> None:
        delay = when_s - time.time()
        if delay > 0:
            gevent.sleep(delay)
