"""The circuit breaker: once the target is shown down or locking us out, stop asking.

Without it an outage reads as a security finding (every traversal category
"failed", latencies of the timeout) and a limiter that keeps a client out past
its Retry-After makes every later probe wait out 429s one by one. With it, the
first few requests decide, and every remaining probe fails at once with the
one-line reason. Pure; one per client, shared by the client's threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from probes.outcomes import LOCKED_OUT, UNREACHABLE, TargetUnavailable

# Consecutive requests without an answer (refused, reset, timed out, garbage) that
# open the breaker: one lost packet is noise, three in a row on a warm client is down.
TRIP_AFTER = 3


@dataclass
class Breaker:
    trip_after: int = TRIP_AFTER
    reason: str | None = None
    unanswered_in_a_row: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def open(self) -> bool:
        return self.reason is not None

    def check(self) -> None:
        """Raise `TargetUnavailable` when the breaker is open; the request is not sent."""
        if self.reason is not None:
            raise TargetUnavailable(self.reason)

    def answered(self) -> None:
        with self._lock:
            self.unanswered_in_a_row = 0

    def unanswered(self, error: str) -> None:
        with self._lock:
            self.unanswered_in_a_row += 1
            if self.unanswered_in_a_row >= self.trip_after:
                self._open(f"{UNREACHABLE}{error}")

    def locked_out(self, reason: str) -> None:
        with self._lock:
            self._open(f"{LOCKED_OUT}{reason}")

    def trip(self, reason: str) -> None:
        """Open with a reason found elsewhere (the preflight, another process)."""
        with self._lock:
            self._open(reason)

    def _open(self, reason: str) -> None:
        if self.reason is None:  # the first reason stands: it is the cause
            self.reason = reason
