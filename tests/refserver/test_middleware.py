"""The pure helpers of the pipeline: who a client is, how long a stall lasts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from refserver.middleware import client_key, stall_wait


def _scope(peer: str, *xff: str) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in xff]
    return {"type": "http", "client": (peer, 1234), "headers": headers}


TRUSTED = frozenset({"10.0.0.1", "10.0.0.2"})


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        (_scope("192.0.2.1"), "192.0.2.1"),
        (_scope("192.0.2.1", "203.0.113.7"), "192.0.2.1"),  # untrusted peer: XFF ignored
        (_scope("10.0.0.1", "203.0.113.7"), "203.0.113.7"),
        (_scope("10.0.0.1", "6.6.6.6, 203.0.113.7"), "203.0.113.7"),  # rightmost untrusted
        (_scope("10.0.0.1", "203.0.113.7, 10.0.0.2"), "203.0.113.7"),  # proxy chain
        (_scope("10.0.0.1", "6.6.6.6", "203.0.113.7"), "203.0.113.7"),  # repeated header
        (_scope("10.0.0.1", "10.0.0.2"), "10.0.0.2"),  # all trusted: leftmost
        (_scope("10.0.0.1", " , "), "10.0.0.1"),
    ],
)
def test_client_key(scope: dict[str, Any], key: str) -> None:
    assert client_key(scope, TRUSTED) == key


def test_client_key_trusting_any_xff_takes_the_leftmost_hop() -> None:
    assert client_key(_scope("192.0.2.1", "6.6.6.6, 7.7.7.7"), frozenset(), True) == "6.6.6.6"
    assert client_key({"type": "http", "headers": []}, frozenset()) == "unknown"


@pytest.mark.parametrize(
    ("now", "wait"),
    [(3000.0, 1.0), (3000.25, 0.75), (3000.999, 0.001), (3001.0, 0.0), (3002.9, 0.0)],
)
def test_stall_wait(now: float, wait: float) -> None:
    assert stall_wait(now, 3.0, 1.0) == pytest.approx(wait)


def test_tail_counts_only_authenticated_gets(make_harness: Any) -> None:
    h = make_harness("latency-tail")
    for _ in range(6):
        h.get("/status", authorized=False)
        h.get("/jobs", authorized=False)
    started = time.perf_counter()
    h.get("/status", authorized=False)
    h.get("/jobs", authorized=False)
    assert time.perf_counter() - started < 0.5
