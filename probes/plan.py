"""The request plan: how many requests each family will send, known before the first one.

A gate is only trusted if it says up front what it will cost the target: the
plan is printed when collection ends and recorded in the results file, and
each family's figure is a range, because some probes stop when their verdict
is in (latency's sequential looks, a drain that meets its 429 early).

Each probe module states its own cost as a module-level function
`planned_requests(run, tests) -> Cost`, `tests` being the (test function,
parameter id) pairs collected from it: the module knows what each of its
probes sends and which fixtures send once per process. This module only adds
up and describes; it does no I/O.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cost:
    """Requests a probe (or a family) sends: at least `low`, at most `high`."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"bad request cost {self.low}..{self.high}")

    @classmethod
    def exactly(cls, count: int) -> Cost:
        return cls(count, count)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.low + other.low, self.high + other.high)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.low * times, self.high * times)

    def describe(self) -> str:
        if self.low == self.high:
            return f"{self.low:,}"
        return f"{self.low:,}-{self.high:,}"


NOTHING = Cost(0, 0)


def total(costs: Iterable[Cost]) -> Cost:
    result = NOTHING
    for cost in costs:
        result = result + cost
    return result


@dataclass(frozen=True)
class RequestPlan:
    """Per family, the requests the collected probes will send, and at what rate."""

    families: Mapping[str, Cost]
    unplanned: tuple[str, ...]  # families whose module states no cost
    rate_per_s: float  # the pacer's rate: what the probes may spend per second
    probes: Mapping[str, int] = field(default_factory=dict)  # per family, probes that run

    @property
    def requests(self) -> Cost:
        return total(self.families.values())

    def seconds(self) -> tuple[float, float]:
        """The time the requests take at the paced rate: a floor, round trips aside."""
        cost = self.requests
        return cost.low / self.rate_per_s, cost.high / self.rate_per_s

    def describe(self) -> str:
        """`plan: 1,712 requests (auth 210, latency 440-670), about 22-30 s at 80 r/s`."""
        parts = ", ".join(
            f"{family} {cost.describe()}" for family, cost in sorted(self.families.items())
        )
        low, high = self.seconds()
        wall = f"{low:.0f} s" if round(low) == round(high) else f"{low:.0f}-{high:.0f} s"
        text = (
            f"plan: {self.requests.describe()} requests ({parts or 'none'}), "
            f"about {wall} at {self.rate_per_s:g} r/s"
        )
        if self.unplanned:
            text += f"; not planned: {', '.join(self.unplanned)}"
        return text

    def to_record(self) -> dict[str, Any]:
        return {
            "requests": {"low": self.requests.low, "high": self.requests.high},
            "families": {
                family: {"low": cost.low, "high": cost.high}
                for family, cost in sorted(self.families.items())
            },
            "unplanned": list(self.unplanned),
            "probes": dict(sorted(self.probes.items())),
            "rate_per_second": self.rate_per_s,
            "seconds": [round(s, 1) for s in self.seconds()],
        }


def from_record(record: Mapping[str, Any]) -> RequestPlan:
    """The plan back from `RequestPlan.to_record` (how a worker hands it to the controller)."""
    families = {
        str(family): Cost(int(cost["low"]), int(cost["high"]))
        for family, cost in record["families"].items()
    }
    return RequestPlan(
        families,
        tuple(str(f) for f in record["unplanned"]),
        float(record["rate_per_second"]),
        {str(f): int(n) for f, n in record.get("probes", {}).items()},
    )


def split_nodeid(nodeid: str) -> tuple[str, str, str]:
    """`probes/test_auth.py::test_x[GET/jobs-missing]` -> (module path, `test_x`,
    `GET/jobs-missing`); the parameter id is empty for a plain test."""
    module, _, name = nodeid.partition("::")
    function, _, params = name.partition("[")
    return module, function, params.removesuffix("]")


def processes() -> int:
    """How many pytest processes run probes: the xdist workers, or this one."""
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        return 1


@dataclass
class Progress:
    """Which families have finished, and what the plan says is left: one line a family.

    Line-based on purpose: it reads the same in a terminal and in a CI log, and
    sits between pytest's own progress lines instead of fighting them.
    """

    plan: RequestPlan
    done: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)

    def finished(self, family: str, requests: int | None = None) -> str | None:
        """Count one probe of `family` as finished, with the requests it sent (None: not
        known); the line to print when it was the family's last."""
        self.done[family] = self.done.get(family, 0) + 1
        if requests is not None:
            self.sent[family] = self.sent.get(family, 0) + requests
        if self.done[family] != self.plan.probes.get(family):
            return None
        complete = [f for f, n in self.plan.probes.items() if self.done.get(f, 0) >= n]
        left = total(
            cost
            for f, cost in self.plan.families.items()
            if f not in complete and f in self.plan.probes
        )
        cost = self.plan.families.get(family)
        sent = f", {cost.describe()} requests planned" if cost is not None else ""
        if family in self.sent:
            sent = f", {self.sent[family]:,} requests sent" + (
                f" of {cost.describe()} planned" if cost is not None else ""
            )
        count = self.plan.probes[family]
        text = (
            f"{family} done ({count} probe{'' if count == 1 else 's'}{sent}); "
            f"{len(complete)} of {len(self.plan.probes)} families"
        )
        if left.high:
            low, high = left.low / self.plan.rate_per_s, left.high / self.plan.rate_per_s
            wall = f"{low:.0f} s" if round(low) == round(high) else f"{low:.0f}-{high:.0f} s"
            text += f", {left.describe()} requests left, about {wall}"
        return text
