"""The open model's arrival schedule: when each request is due, and what became of it.

In a closed model (Locust's users) a slow server slows the senders, so the
requests that would have met the slowness are never sent and never measured
(coordinated omission). In the open model the i-th request is due at
`start + i / rate` whatever happened before; it is sent as soon as a
connection is free, its latency is measured from that due time, and a request
that could not be sent within `drop_after_s` of it is dropped and counted,
never silently skipped. This module is the bookkeeping only; `openmodel.py`
does the sleeping and sending.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    """The next request to send: when it was due, whether it leaves late, how many were dropped."""

    intended_s: float
    late: bool
    dropped: int


class ArrivalSchedule:
    def __init__(
        self,
        rate_per_s: float,
        start_s: float,
        *,
        late_after_s: float = 0.010,
        drop_after_s: float = 10.0,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        if late_after_s < 0 or drop_after_s <= late_after_s:
            raise ValueError("need 0 <= late_after_s < drop_after_s")
        self.rate_per_s = rate_per_s
        self.start_s = start_s
        self.late_after_s = late_after_s
        self.drop_after_s = drop_after_s
        self._next = 0

    def due(self, index: int) -> float:
        # Computed from the start, not by adding intervals, so no drift accumulates.
        return self.start_s + index / self.rate_per_s

    def next_due(self) -> float:
        return self.due(self._next)

    def claim(self, now_s: float) -> Claim:
        """Take the next request to send at `now_s`, dropping those too overdue to send."""
        dropped = 0
        while now_s - self.due(self._next) > self.drop_after_s:
            dropped += 1
            self._next += 1
        intended = self.due(self._next)
        self._next += 1
        return Claim(intended, now_s - intended > self.late_after_s, dropped)

    def unsent_due(self, now_s: float) -> int:
        """Requests already due at `now_s` and never claimed (still queued when the run stops)."""
        if now_s < self.next_due():
            return 0
        last_due = int((now_s - self.start_s) * self.rate_per_s)
        return max(0, last_due - self._next + 1)

    def finish(self, now_s: float) -> int:
        """Account the requests due before `now_s` that were never sent; returns their count."""
        unsent = self.unsent_due(now_s)
        self._next += unsent
        return unsent
