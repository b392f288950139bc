"""What the simulated clients send and how an answer is judged: pure data and rules.

The request mix mirrors the clients the seeds describe (seed 000: Prometheus
scrapes `/performance` every 15 s, the health monitor polls it every 30 s;
seed 001: the container HEALTHCHECK curls the manager's `/health` every 30 s;
operators list, validate and load scenes and read the history). Users and the
open model both draw from these tables, so the closed and open runs exercise
the same endpoints with the same weights.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MUTATING_METHODS = frozenset({"POST", "DELETE", "PATCH"})
RETRY_AFTER_CAP_S = 60.0


@dataclass(frozen=True)
class Call:
    """One kind of request: the route template is also its name in stats and results."""

    method: str
    endpoint: str
    weight: int = 1
    scene_body: bool = False
    auth: bool = True
    expected: frozenset[int] = field(default_factory=lambda: frozenset({200}))

    @property
    def key(self) -> str:
        return f"{self.method} {self.endpoint}"

    @property
    def mutating(self) -> bool:
        """POST changes what the server runs (loads a scene); PUT /scene only validates."""
        return self.method in MUTATING_METHODS

    def body(self, scene: str) -> dict[str, str] | None:
        return {"scene_path": scene} if self.scene_body else None


SCRAPE = Call("GET", "/performance")
MANAGER_HEALTH = Call("GET", "/health", auth=False)

# An operator's session: mostly reads; validating is common, loading is rare.
OPERATOR_MIX: tuple[Call, ...] = (
    Call("GET", "/scenes", weight=6),
    Call("GET", "/scene", weight=4),
    Call("GET", "/scene/history", weight=3),
    Call("PUT", "/scene", weight=3, scene_body=True),
    Call("POST", "/scene", weight=1, scene_body=True),
    Call("POST", "/scene/reload", weight=1),
    Call("GET", "/status", weight=1, auth=False),
)


def read_only(calls: Sequence[Call]) -> tuple[Call, ...]:
    """The mix without calls that change the target (`--st-read-only`)."""
    return tuple(call for call in calls if not call.mutating)


class Outcome(StrEnum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    UNEXPECTED = "unexpected"
    NO_RESPONSE = "no_response"


def classify(status: int | None, expected: frozenset[int]) -> Outcome:
    """A 429 is its own outcome: the limiter working, not the API failing."""
    if not status:
        return Outcome.NO_RESPONSE
    if status in expected:
        return Outcome.OK
    if status == 429:
        return Outcome.RATE_LIMITED
    if status >= 500:
        return Outcome.SERVER_ERROR
    return Outcome.UNEXPECTED


def retry_after_s(
    value: str | None, now_epoch: float, *, cap_s: float = RETRY_AFTER_CAP_S
) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped.

    A missing or unreadable header gives 1 s: backing off a little is safer
    than hammering a limiter that did not say for how long.
    """
    if value is None:
        return 1.0
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap_s)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return 1.0
    return max(0.0, min(when.timestamp() - now_epoch, cap_s))


def interleave(calls: Sequence[Call]) -> Iterator[Call]:
    """Smooth weighted round robin (nginx's upstream algorithm), forever.

    The open model draws its arrivals from this rather than from a random
    choice so that a short run at a fixed rate sends exactly the weighted mix,
    evenly spread, and two runs send the same sequence.
    """
    if not calls or any(call.weight <= 0 for call in calls):
        raise ValueError("interleave needs calls with positive weights")
    total = sum(call.weight for call in calls)
    current = [0] * len(calls)
    while True:
        for i, call in enumerate(calls):
            current[i] += call.weight
        best = max(range(len(calls)), key=current.__getitem__)
        current[best] -= total
        yield calls[best]


def describe_mix(calls: Sequence[Call]) -> list[dict[str, Any]]:
    total = sum(call.weight for call in calls)
    return [{"call": call.key, "share": round(call.weight / total, 3)} for call in calls]
