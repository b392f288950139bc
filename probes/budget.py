"""Fitting a run into a time budget, and rotating what is left out across scheduled runs.

A schedule every 5 minutes against a target that allows 10 requests a second
cannot send the whole matrix each time. With `--st-budget SECONDS`, the
probes that always run (plain tests, positive controls) are kept, and the
cases of each matrix (the parametrized probes: auth variants x routes,
traversal categories x methods, latency endpoints) are dealt into slices
that each fit what is left of the budget. The run's slot (`--st-slot`, by
default the pipeline number) picks one slice, so successive runs send
different ones and every case is sent within `slices` runs. The dealing
interleaves the matrices, so each slice samples every family, and depends
only on the collected cases and the budget: every xdist worker deals the
same slices.

Pure: cases, costs and numbers in, the chosen cases and a description out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    """One collected probe: `key` its node id, `requests` its planned high, `group` the
    matrix it belongs to (None: always runs)."""

    key: str
    requests: int
    group: str | None


@dataclass(frozen=True)
class Coverage:
    """What a budgeted run sends and what it leaves to the runs after it."""

    budget_s: float
    rate_per_s: float
    slot: int
    slice: int  # 0-based, of `slices`
    slices: int
    chosen: tuple[str, ...]  # the rotating cases this run sends
    left: tuple[str, ...]  # the rotating cases other slices send
    always: int  # cases every run sends
    always_requests: int
    over_budget: bool  # the cases that always run alone exceed the budget

    @property
    def full(self) -> bool:
        return self.slices == 1 and not self.left

    def describe(self) -> str:
        rotating = len(self.chosen) + len(self.left)
        if self.full:
            return f"budget {self.budget_s:g} s: everything fits ({self.always + rotating} probes)"
        text = (
            f"budget {self.budget_s:g} s at {self.rate_per_s:g} r/s: slot {self.slot} sends "
            f"slice {self.slice + 1} of {self.slices} ({len(self.chosen)} of {rotating} "
            f"matrix cases, and the {self.always} probes every run sends); every case is "
            f"sent within {self.slices} runs"
        )
        if self.over_budget:
            text += (
                f"; the probes every run sends alone need about "
                f"{self.always_requests / self.rate_per_s:.0f} s, over the budget"
            )
        return text

    def to_record(self) -> dict[str, Any]:
        return {
            "budget_s": self.budget_s,
            "slot": self.slot,
            "slice": self.slice,
            "slices": self.slices,
            "sent_cases": len(self.chosen),
            "left_cases": len(self.left),
            "always_cases": self.always,
            "left": list(self.left),
            "over_budget": self.over_budget,
        }


def _interleaved(cases: Sequence[Case]) -> list[Case]:
    """Round-robin over the matrices, each in collection order: a slice of a few cases
    takes some of every matrix rather than all of one."""
    by_group: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_group[str(case.group)].append(case)
    queues = [by_group[group] for group in sorted(by_group)]
    dealt: list[Case] = []
    for index in range(max((len(q) for q in queues), default=0)):
        dealt.extend(queue[index] for queue in queues if index < len(queue))
    return dealt


def fit(cases: Sequence[Case], *, budget_s: float, rate_per_s: float, slot: int) -> Coverage:
    """The slice of the rotating cases that slot `slot` sends within `budget_s`.

    The requests the budget buys are `budget_s x rate_per_s`; the cases that
    always run take theirs first, and the rest is the size of each slice
    (never less than the largest single case, so every case fits some slice).
    """
    if budget_s <= 0 or rate_per_s <= 0:
        raise ValueError(f"bad budget: {budget_s} s at {rate_per_s} r/s")
    always = [c for c in cases if c.group is None]
    rotating = _interleaved([c for c in cases if c.group is not None])
    affordable = math.floor(budget_s * rate_per_s)
    always_requests = sum(c.requests for c in always)
    room = affordable - always_requests
    rotating_requests = sum(c.requests for c in rotating)

    def coverage(index: int, count: int, chosen: Sequence[Case], left: Sequence[Case]) -> Coverage:
        return Coverage(
            budget_s=budget_s,
            rate_per_s=rate_per_s,
            slot=slot,
            slice=index,
            slices=count,
            chosen=tuple(c.key for c in chosen),
            left=tuple(c.key for c in left),
            always=len(always),
            always_requests=always_requests,
            over_budget=room < 0,
        )

    if rotating_requests <= room:
        return coverage(0, 1, rotating, ())
    size = max(room, max((c.requests for c in rotating), default=0), 1)
    slices: list[list[Case]] = [[]]
    spent = 0
    for case in rotating:
        if slices[-1] and spent + case.requests > size:
            slices.append([])
            spent = 0
        slices[-1].append(case)
        spent += case.requests
    index = slot % len(slices)
    left = [c for n, part in enumerate(slices) if n != index for c in part]
    return coverage(index, len(slices), slices[index], left)


def group_of(function: str, params: str, controls: frozenset[str]) -> str | None:
    """The matrix a probe belongs to: its test function, when parametrized and not a
    positive control; None for what every run sends."""
    if not params or function in controls:
        return None
    return function
