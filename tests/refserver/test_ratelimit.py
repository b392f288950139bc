"""Token bucket maths with an injected clock: no sleeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refserver.ratelimit import Decision, TokenBucket


def test_burst_then_refusal_with_wait_until_next_token() -> None:
    bucket = TokenBucket(capacity=3, rate_per_second=2)
    assert [bucket.take("a", 0.0).allowed for _ in range(3)] == [True, True, True]
    refused = bucket.take("a", 0.0)
    assert not refused.allowed
    assert refused.wait_seconds == pytest.approx(0.5)
    assert refused.retry_after_seconds == 1


def test_refill_is_proportional_and_capped() -> None:
    bucket = TokenBucket(capacity=2, rate_per_second=1)
    bucket.take("a", 0.0)
    bucket.take("a", 0.0)
    assert not bucket.take("a", 0.4).allowed
    assert bucket.take("a", 1.0).allowed
    # A long idle time refills to capacity, not beyond.
    assert bucket.take("a", 100.0).allowed
    assert bucket.take("a", 100.0).allowed
    assert not bucket.take("a", 100.0).allowed


def test_clients_have_separate_buckets() -> None:
    bucket = TokenBucket(capacity=1, rate_per_second=1)
    assert bucket.take("a", 0.0).allowed
    assert not bucket.take("a", 0.0).allowed
    assert bucket.take("b", 0.0).allowed


@pytest.mark.parametrize(
    ("wait", "retry_after"),
    [(0.001, 1), (0.5, 1), (1.0, 1), (1.2, 2), (2.0, 2), (59.01, 60)],
)
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(
    wait: float, retry_after: int
) -> None:
    assert Decision(False, wait).retry_after_seconds == retry_after


def test_slow_rate_gives_multi_second_retry_after() -> None:
    bucket = TokenBucket(capacity=1, rate_per_second=1 / 60)  # 1 per minute
    bucket.take("a", 0.0)
    refused = bucket.take("a", 10.0)
    assert refused.retry_after_seconds == 50
    assert not bucket.take("a", 59.0).allowed
    assert bucket.take("a", 60.0).allowed


def test_waiting_retry_after_always_succeeds() -> None:
    bucket = TokenBucket(capacity=5, rate_per_second=3)
    now = 0.0
    while bucket.take("a", now).allowed:
        pass
    refused = bucket.take("a", now)
    assert bucket.take("a", now + refused.retry_after_seconds).allowed


def test_full_buckets_are_forgotten_when_too_many_clients() -> None:
    bucket = TokenBucket(capacity=1, rate_per_second=1, max_clients=3)
    for key in "abc":
        bucket.take(key, 0.0)
    bucket.take("d", 10.0)  # a, b, c are full again by t=10: forgotten
    assert len(bucket) == 1


def test_rejects_nonsense_parameters() -> None:
    with pytest.raises(ValueError):
        TokenBucket(capacity=0, rate_per_second=1)
    with pytest.raises(ValueError):
        TokenBucket(capacity=1, rate_per_second=0)


@given(
    capacity=st.integers(1, 50),
    rate=st.floats(0.1, 100),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_never_allows_more_than_burst_plus_refill(
    capacity: int, rate: float, gaps: list[float]
) -> None:
    bucket = TokenBucket(capacity=capacity, rate_per_second=rate)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        allowed += bucket.take("k", now).allowed
    assert allowed <= capacity + rate * now + 1e-6
