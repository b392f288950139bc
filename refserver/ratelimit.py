"""A per-client token bucket, pure: the caller passes ``now``.

The ``limits`` library offers fixed and sliding windows but no token bucket,
and the contract (like nginx's ``limit_req`` with ``burst``) describes a
bucket: ``capacity`` requests at once, refilled at ``rate_per_second``. Time is
an argument so the maths is tested without sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    """``allowed``, or else how long until one token is back (``wait_seconds`` > 0)."""

    allowed: bool
    wait_seconds: float = 0.0

    @property
    def retry_after_seconds(self) -> int:
        """The ``Retry-After`` value: whole seconds, rounded up, never below 1."""
        return max(1, math.ceil(self.wait_seconds - 1e-9))


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucket:
    """Buckets keyed by client; a client never seen starts full.

    Full buckets are forgotten when more than ``max_clients`` are tracked, so a
    flood of spoofed keys cannot grow memory without bound: a forgotten bucket
    was full, and a new one starts full, so forgetting changes no decision.
    """

    def __init__(self, capacity: float, rate_per_second: float, max_clients: int = 10_000) -> None:
        if capacity < 1 or rate_per_second <= 0:
            raise ValueError("capacity must be >= 1 and rate_per_second > 0")
        self.capacity = float(capacity)
        self.rate_per_second = float(rate_per_second)
        self.max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now: float) -> Decision:
        """Consume one token for ``key`` at time ``now`` if one is available."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_clients:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate_per_second)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Decision(True)
        return Decision(False, (1.0 - bucket.tokens) / self.rate_per_second)

    def _forget_full(self, now: float) -> None:
        refill_seconds = self.capacity / self.rate_per_second
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill_seconds]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
