"""The conforming server's service time: a base delay, jitter and a slow tail.

A real target is not as fast and as even as loopback: answers take tens of
milliseconds, vary from one to the next, and a few are slow while the p95
stays under the SLA. ``--latency-ms``, ``--latency-jitter-ms``,
``--latency-tail-ratio`` and ``--latency-tail-ms`` describe that, so the
probes can be proven not to raise false alarms against it. These are
conforming behaviour, not faults. Pure: the randomness is a ``random.Random``
the caller owns (seeded by ``--latency-seed``), so a test can check the draw.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceTime:
    """How long an answer waits before it is handled, in milliseconds.

    A share ``tail_ratio`` of answers, drawn at random, waits ``tail_ms``
    instead of the base (no jitter: the tail is the tail). Every other answer
    waits ``max(0, base_ms + uniform(-jitter_ms, +jitter_ms))``.
    """

    base_ms: float = 0.0
    jitter_ms: float = 0.0
    tail_ratio: float = 0.0
    tail_ms: float = 0.0

    @property
    def idle(self) -> bool:
        """True when no answer is ever delayed (the middleware can skip the draw)."""
        return self.base_ms == 0 and self.jitter_ms == 0 and self.tail_ratio == 0

    def draw_ms(self, rng: random.Random) -> float:
        """One answer's delay. Draws from ``rng`` only what this model needs.

        ``rng.random() < tail_ratio`` picks the tail, so a ratio of 0 never and
        a ratio of 1 always does; the jitter is one ``rng.uniform`` call.
        """
        if self.tail_ratio > 0 and rng.random() < self.tail_ratio:
            return self.tail_ms
        if self.jitter_ms > 0:
            return max(0.0, self.base_ms + rng.uniform(-self.jitter_ms, self.jitter_ms))
        return self.base_ms
