"""Outcome rules, Retry-After, and the weighted interleave the open model draws from."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest

from loadtests.traffic import (
    OPERATOR_MIX,
    Call,
    Outcome,
    classify,
    interleave,
    read_only,
    retry_after_s,
)

OK = frozenset({200})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.OK),
        (429, Outcome.RATE_LIMITED),
        (503, Outcome.SERVER_ERROR),
        (500, Outcome.SERVER_ERROR),
        (401, Outcome.UNEXPECTED),
        (404, Outcome.UNEXPECTED),
        (0, Outcome.NO_RESPONSE),
        (None, Outcome.NO_RESPONSE),
    ],
)
def test_classify(status: int | None, outcome: Outcome) -> None:
    assert classify(status, OK) is outcome


def test_retry_after_forms() -> None:
    assert retry_after_s("3", 0.0) == 3.0
    assert retry_after_s("3600", 0.0) == 60.0  # capped
    assert retry_after_s(None, 0.0) == 1.0
    assert retry_after_s("soon", 0.0) == 1.0
    date = "Wed, 21 Oct 2015 07:28:05 GMT"  # 1445412485
    assert retry_after_s(date, 1445412480.0) == pytest.approx(5.0)
    assert retry_after_s(date, 1445412490.0) == 0.0


def test_interleave_sends_the_exact_mix_evenly() -> None:
    total = sum(c.weight for c in OPERATOR_MIX)
    first = list(itertools.islice(interleave(OPERATOR_MIX), total * 3))
    counts = Counter(c.key for c in first)
    assert counts == {c.key: c.weight * 3 for c in OPERATOR_MIX}
    # evenly spread: the heaviest call recurs about every total/weight slots, never in a clump
    heaviest = max(OPERATOR_MIX, key=lambda c: c.weight)
    slots = [i for i, c in enumerate(first) if c is heaviest]
    assert (
        max(b - a for a, b in itertools.pairwise(slots)) <= math.ceil(total / heaviest.weight) + 1
    )
    with pytest.raises(ValueError):
        next(interleave([Call("GET", "/x", weight=0)]))


def test_read_only_drops_scene_loads_but_keeps_validation() -> None:
    kept = {c.key for c in read_only(OPERATOR_MIX)}
    assert "POST /scene" not in kept and "POST /scene/reload" not in kept
    assert "PUT /scene" in kept and "GET /scene/history" in kept
