"""Client-controlled inputs that must not choose the rate-limit bucket, each with fresh values.

The contract keys the bucket on the peer address and on nothing else the
client sends. Real limiters slip on the inputs listed here: a framework's
"client IP" helper that reads X-Real-IP or Forwarded from anyone, a limiter
keyed per API key (so any new bearer string starts full), per route (a
per-view decorator), or on the whole URL (a query string makes a new key).
Each disguised request carries one input with a value no earlier request
used; a limited client that gets through with one has found a fresh budget.

A bucket keyed per connection is not here: the drain itself runs on several
connections, so such a bucket admits several bursts and fails the drain.
Everything is derived from the index alone, so every run sends the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Headers that carry "the client's address" through proxies; from a client, lies.
ADDRESS_HEADERS: tuple[str, ...] = (
    "X-Forwarded-For",
    "X-Real-IP",
    "Forwarded",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Client-IP",
)
#: The other inputs: the client's software, its credential, the URL, the route.
OTHER_INPUTS: tuple[str, ...] = ("User-Agent", "Authorization", "query", "route")


@dataclass(frozen=True)
class Disguise:
    """One request's client-chosen input: `headers` to add, the `path` to send to."""

    input: str
    headers: Mapping[str, str]
    path: str


def documentation_address(index: int) -> str:
    """The index-th address of the RFC 5737 documentation ranges: never a real client."""
    net = ("192.0.2", "198.51.100", "203.0.113")[(index // 250) % 3]
    return f"{net}.{index % 250 + 2}"


def client_inputs(*, other_route: str | None) -> tuple[str, ...]:
    """The inputs a batch disguises; `route` only when there is another route to send to."""
    others = tuple(name for name in OTHER_INPUTS if name != "route" or other_route is not None)
    return ADDRESS_HEADERS + others


def disguise(name: str, index: int, *, path: str, other_route: str | None) -> Disguise:
    """Request `index` (0-based, unique in the batch) disguised by input `name`."""
    address = documentation_address(index)
    if name == "Forwarded":
        return Disguise(name, {"Forwarded": f"for={address}"}, path)
    if name in ADDRESS_HEADERS:
        return Disguise(name, {name: address}, path)
    if name == "User-Agent":
        return Disguise(name, {"User-Agent": f"spacetime-probes-client-{index}"}, path)
    if name == "Authorization":
        # Not a token: a limiter keyed per credential gives any new string a bucket.
        return Disguise(name, {"Authorization": f"Bearer spacetime-probes-client-{index}"}, path)
    if name == "query":
        return Disguise(name, {}, f"{path}?client={index}")
    if name == "route":
        if other_route is None:
            raise ValueError("the route input needs another route")
        return Disguise(name, {}, other_route)
    raise ValueError(f"unknown client input {name!r}")


def disguises(per_input: int, *, path: str, other_route: str | None) -> list[Disguise]:
    """`per_input` requests for every input, interleaved, so each input's requests spread
    over the whole batch rather than all meeting the same moment of the refill."""
    names = client_inputs(other_route=other_route)
    return [
        disguise(name, round_ * len(names) + n, path=path, other_route=other_route)
        for round_ in range(per_input)
        for n, name in enumerate(names)
    ]
