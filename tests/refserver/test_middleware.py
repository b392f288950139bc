"""The pure helpers of the pipeline: who a client is, how long a stall lasts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refserver.middleware import CLIENT_IP_HEADERS, BucketKey, client_key, stall_wait


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
    assert (
        client_key(
            _scope("192.0.2.1", "6.6.6.6, 7.7.7.7"), frozenset(), BucketKey(trust_any_xff=True)
        )
        == "6.6.6.6"
    )
    assert client_key({"type": "http", "headers": []}, frozenset()) == "unknown"


_CLIENT_INPUTS = st.fixed_dictionaries(
    {},
    optional={
        name: st.text(alphabet="0123456789.:abcdef=;, ", min_size=1, max_size=30)
        for name in (*CLIENT_IP_HEADERS, "x-forwarded-for", "user-agent", "authorization")
    },
)


@given(
    inputs=_CLIENT_INPUTS,
    path=st.sampled_from(["/jobs", "/scenes", "/scene", "/nope"]),
    port=st.integers(1024, 65535),
)
def test_nothing_the_client_sends_chooses_the_contract_bucket(
    inputs: dict[str, str], path: str, port: int
) -> None:
    scope = {
        "type": "http",
        "client": ("192.0.2.1", port),
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in inputs.items()],
    }
    assert client_key(scope, frozenset()) == "192.0.2.1"


def _with(headers: dict[str, str], path: str = "/jobs", port: int = 1234) -> dict[str, Any]:
    return {
        "type": "http",
        "client": ("192.0.2.1", port),
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


def test_each_bucket_fault_lets_one_client_input_choose_the_bucket() -> None:
    headers = BucketKey(client_headers=True)
    assert client_key(_with({"x-real-ip": "6.6.6.6"}), frozenset(), headers) == "6.6.6.6"
    forwarded = _with({"forwarded": 'for="203.0.113.9";proto=https'})
    assert client_key(forwarded, frozenset(), headers) == "203.0.113.9"
    token = BucketKey(per_credential=True)
    a = client_key(_with({"authorization": "Bearer a"}), frozenset(), token)
    assert a != client_key(_with({"authorization": "Bearer b"}), frozenset(), token)
    assert "Bearer" not in a  # the key (and so any log of it) never holds the credential
    route = BucketKey(per_route=True)
    assert client_key(_with({}, "/jobs"), frozenset(), route) != client_key(
        _with({}, "/scenes"), frozenset(), route
    )
    connection = BucketKey(per_connection=True)
    assert client_key(_with({}, port=1), frozenset(), connection) != client_key(
        _with({}, port=2), frozenset(), connection
    )


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
