"""Durations are exact whole seconds, both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slo.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("28d", 2419200), ("1w", 604800)],
)
def test_parse(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m5", "5x", "-5m", "0m", "5m1h", "1.5h"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**8))
def test_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
