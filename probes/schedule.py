"""A fixed request schedule whose latency counts from when each request was due.

Pure bookkeeping apart from the sleep: the latency probe hands it a `send`
callable, so the coordinated-omission correction is testable without a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.exchange import Exchange


@dataclass
class Schedule:
    """Requests at fixed intended times; latency counted from the intended time.

    A closed-loop client hides a stalled server: while one request waits out
    a one-second stall, no other is sent, so the stall is one slow sample
    among hundreds (coordinated omission). Measured from when each request
    was due, every request that fell due during the stall carries it.
    Waiting for our own pacer is left out: that is the client's doing.
    """

    interval_s: float
    next_at: float = 0.0
    corrected: list[float] = field(default_factory=list)
    uncorrected: list[float] = field(default_factory=list)

    def run(self, send: Callable[[], Exchange], timeout_ms: float) -> None:
        now = time.perf_counter()
        if self.next_at == 0.0:
            self.next_at = now
        if now < self.next_at:
            time.sleep(self.next_at - now)
        intended = self.next_at
        self.next_at = intended + self.interval_s
        exchange = send()
        done = time.perf_counter()
        # Time spent queued on our own pacer (another worker's exclusive
        # rate-limit probe, say) pauses the schedule; otherwise every
        # request due during the pause would carry it as server latency.
        self.next_at += exchange.queued_ms / 1000
        if exchange.latency_ms is None:
            # No answer counts as the slowest possible one: it certainly missed the SLA.
            self.uncorrected.append(timeout_ms)
            self.corrected.append(max(timeout_ms, (done - intended) * 1000 - exchange.queued_ms))
            return
        self.uncorrected.append(exchange.latency_ms)
        late_ms = (done - intended) * 1000 - exchange.queued_ms
        self.corrected.append(max(exchange.latency_ms, late_ms))
