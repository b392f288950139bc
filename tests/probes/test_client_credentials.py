"""The client's ways to send a credential elsewhere: repeated headers, query parameters.

In process through ``httpx.MockTransport``: what goes on the wire (two
header lines, a query string) and what the client records (the endpoint
without the query, for samples; the URL with it, redacted where shown).
"""

from __future__ import annotations

import httpx
from support import mint_token

from probes.client import ProbeClient
from probes.exchange import Exchange

TOKEN = mint_token("unit")
OTHER = mint_token("other")


def _client() -> tuple[ProbeClient, list[httpx.Request], list[Exchange]]:
    seen: list[httpx.Request] = []
    samples: list[Exchange] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"error": "unauthorized", "message": "no"})

    client = ProbeClient(
        "http://target.test",
        token=TOKEN,
        timeout_s=2.0,
        pacer=None,
        transport=httpx.MockTransport(record),
        sink=lambda exchange, expected: samples.append(exchange),
    )
    return client, seen, samples


def test_a_tuple_sends_one_authorization_header_per_value_in_order() -> None:
    client, seen, _ = _client()
    values = (f"Bearer {TOKEN}", f"Bearer {OTHER}")
    exchange = client.request("GET", "/scene", authorization=values, headers={"X-Probe": "1"})
    assert seen[0].headers.get_list("authorization") == list(values)
    assert seen[0].headers["x-probe"] == "1"
    assert exchange.request_headers["Authorization"] == ", ".join(values)
    assert TOKEN not in exchange.curl() and OTHER not in exchange.curl()


def test_a_string_or_none_still_sends_one_or_no_header() -> None:
    client, seen, _ = _client()
    client.request("GET", "/scene", authorization="Bearer x")
    client.request("GET", "/scene", authorization=None)
    client.request("GET", "/scene")
    assert [r.headers.get_list("authorization") for r in seen] == [
        ["Bearer x"],
        [],
        [f"Bearer {TOKEN}"],
    ]


def test_params_reach_the_url_but_not_the_recorded_endpoint() -> None:
    client, seen, samples = _client()
    exchange = client.request("GET", "/scene", authorization=None, params={"access_token": OTHER})
    assert seen[0].url.params["access_token"] == OTHER
    assert exchange.endpoint == "/scene" and samples[0].endpoint == "/scene"
    assert OTHER in exchange.url  # the record keeps it; everything that shows it redacts
    assert OTHER not in exchange.curl() and "access_token=<redacted>" in exchange.curl()
    assert OTHER not in exchange.brief()
