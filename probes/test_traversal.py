"""Scene-path traversal: every encoding trick gets exactly 400, on POST and PUT /scene.

404 is a failure too: it means the path was taken for a path and looked up.
Each category runs its canonical examples and then hypothesis examples
(derandomized, so every run and every xdist worker sends the same ones);
failures are collected rather than shrunk, so one run reports every
category that fails and what got through.

The carrier probes at the end send one invalid path in every other way a
request can carry it (duplicate keys, the query string, JSON escapes, a
non-string value, a BOM, another Content-Type, a form body); they report as
categories named ``carrier-<name>``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from probes import checks
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.payloads.traversal import CATEGORIES, EXAMPLES, category_names
from probes.plan import Cost
from probes.run import ProbeContext, Run

METHODS = ("POST", "PUT")


def _problem(exchange: Exchange, allowed: Collection[int] = (400,)) -> str | None:
    """Why this answer to an invalid path is wrong, or None when it is a proper 400."""
    try:
        checks.no_file_signatures(exchange, "")
    except ProbeFailure as failure:
        return failure.reason.lstrip(": ")
    if exchange.status is None:
        return f"no response ({exchange.error})"
    if 200 <= exchange.status < 300:
        return f"accepted with {exchange.status}"
    if exchange.status == 404:
        return "404: the path was looked up instead of rejected"
    if exchange.status >= 500:
        return f"server error {exchange.status}"
    if exchange.status not in allowed:
        expected = " or ".join(str(status) for status in sorted(allowed))
        return f"answered {exchange.status}, expected {expected}"
    try:
        checks.error_body(exchange, "")
    except ProbeFailure as failure:
        return f"{exchange.status} without the JSON error body ({failure.reason.lstrip(': ')})"
    return None


def _judge_category(
    probe: ProbeContext,
    category: str,
    method: str,
    statuses: Counter[str],
    failures: list[tuple[str, Exchange, str]],
    what: str,
) -> None:
    """Record what a category sent; fail with the first of its failures (label, answer,
    problem) when any got through."""
    sent = sum(statuses.values())
    probe.measured(
        {
            "category": category,
            "method": method,
            "sent": sent,
            "failed_examples": len(failures),
            "statuses": dict(statuses),
        }
    )
    if failures:
        label, exchange, problem = failures[0]
        raise ProbeFailure(
            f"{method} /scene [{category}]: {len(failures)}/{sent} {what}; "
            f"first {label}: {problem}",
            exchange=exchange,
            measured=len(failures),
            limit=0,
        )


@pytest.mark.mutating
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("category", category_names())
def test_invalid_scene_path_rejected(
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    category: str,
    method: str,
    probe: ProbeContext,
) -> None:
    probe.about(method, "/scene")
    failures: list[tuple[str, Exchange, str]] = []
    statuses: Counter[str] = Counter()

    payloads = list(EXAMPLES[category])

    @settings(
        max_examples=st_run.examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(CATEGORIES[category])
    def generated(payload: str) -> None:
        payloads.append(payload)  # drawn first, sent together: no answer steers a draw

    generated()
    payloads = list(dict.fromkeys(payloads))  # a draw equal to a canonical example is sent once

    def send(payload: str) -> Exchange:
        return st_client.request(method, "/scene", json_body={"scene_path": payload}, expect={400})

    for payload, exchange in zip(payloads, st_client.fan_out(send, payloads), strict=True):
        statuses[str(exchange.status)] += 1
        problem = _problem(exchange)
        if problem is not None:
            failures.append((payload, exchange, problem))
    shown = [(repr(payload[:80]), exchange, problem) for payload, exchange, problem in failures]
    _judge_category(probe, category, method, statuses, shown, "invalid paths not rejected")


@pytest.mark.mutating
@pytest.mark.parametrize("method", METHODS)
def test_known_scenes_accepted(
    st_run: Run, st_client: ProbeClient, scene_guard: str, method: str, probe: ProbeContext
) -> None:
    """Positive control: a validator that rejects everything would pass every attack above."""
    probe.about(method, "/scene")
    for scene in st_run.profile.scenes:
        exchange = st_client.request(
            method, "/scene", json_body={"scene_path": scene}, expect={200}
        )
        checks.status_is(exchange, 200, f"{method} /scene with known scene {scene}")


@pytest.mark.mutating
@pytest.mark.parametrize("method", METHODS)
def test_unknown_valid_scene_gets_404(
    st_client: ProbeClient, scene_guard: str, method: str, probe: ProbeContext
) -> None:
    probe.about(method, "/scene")
    scene = "res://scenes/spacetime_probes_no_such_scene.tscn"
    exchange = st_client.request(method, "/scene", json_body={"scene_path": scene}, expect={404})
    checks.status_is(exchange, 404, f"{method} /scene with a valid path naming no scene")


# --- Every way a request carries a scene path --------------------------------------------
#
# The contract: the server validates the very string it would load. These probes
# send one invalid path through each place a server might read it from besides the
# plain JSON field (or read it differently there), so check and load can disagree.

#: Invalid; a loader that resolves it reaches /etc/passwd (signatures show a leak).
ESCAPE = "res://../../../etc/passwd.tscn"
JSON_TYPE = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Attempt:
    """One request of a carrier probe; ``allowed`` are the statuses that pass."""

    label: str
    content: bytes | None = None
    json_body: object = None
    headers: Mapping[str, str] = field(default_factory=lambda: dict(JSON_TYPE))
    params: Mapping[str, str] | None = None
    allowed: frozenset[int] = frozenset({400})
    #: For a request that carries a valid scene too: the 2xx that names that scene passes.
    accepted_scene: str | None = None


def _raw(text: str) -> bytes:
    return text.encode("utf-8")


def _duplicate_keys(scene: str) -> list[Attempt]:
    # Validator and loader may take different keys; both orders, as raw bytes.
    valid, invalid = json.dumps(scene), json.dumps(ESCAPE)
    return [
        Attempt("valid first", _raw(f'{{"scene_path": {valid}, "scene_path": {invalid}}}')),
        Attempt("invalid first", _raw(f'{{"scene_path": {invalid}, "scene_path": {valid}}}')),
    ]


def _query_parameter(scene: str) -> list[Attempt]:
    return [
        Attempt(
            "query beside a valid body",
            json_body={"scene_path": scene},
            params={"scene_path": ESCAPE},
            accepted_scene=scene,
        )
    ]


def _json_escapes(scene: str) -> list[Attempt]:
    # Written out by hand: json.dumps would not escape these characters.
    bodies = (
        r'{"scene_path": "res:\u002f\u002f..\u002fproject.godot"}',
        r'{"scene_path": "res://\u002e\u002e/\u002e\u002e/\u002e\u002e/etc/passwd.tscn"}',
        r'{"scene_path": "res:\/\/..\/..\/..\/etc\/passwd.tscn"}',
    )
    return [Attempt(f"escapes {i + 1}", _raw(body)) for i, body in enumerate(bodies)]


def _non_strings(scene: str) -> list[Attempt]:
    values: tuple[object, ...] = ([ESCAPE], {"path": scene}, 3, None, True)
    # json_body None would send no body at all, so every body is serialised here.
    return [
        Attempt(f"scene_path {json.dumps(v)}", _raw(json.dumps({"scene_path": v}))) for v in values
    ]


def _utf8_bom(scene: str) -> list[Attempt]:
    return [Attempt("BOM", b"\xef\xbb\xbf" + _raw(json.dumps({"scene_path": ESCAPE})))]


#: A body the server was not told is JSON: 415 (unsupported media type) or 400.
NOT_JSON = frozenset({400, 415})


def _content_types(scene: str) -> list[Attempt]:
    body = _raw(json.dumps({"scene_path": ESCAPE}))
    return [
        Attempt("text/plain", body, headers={"Content-Type": "text/plain"}, allowed=NOT_JSON),
        Attempt("no Content-Type", body, headers={}, allowed=NOT_JSON),
    ]


def _form_encoded(scene: str) -> list[Attempt]:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = _raw(urlencode({"scene_path": ESCAPE}))
    return [Attempt("form", body, headers=form, allowed=NOT_JSON)]


#: Carrier name (reported as the category ``carrier-<name>``) -> its requests.
CARRIERS: Mapping[str, Callable[[str], list[Attempt]]] = {
    "duplicate-key": _duplicate_keys,
    "query-parameter": _query_parameter,
    "json-unicode-escape": _json_escapes,
    "non-string": _non_strings,
    "utf8-bom": _utf8_bom,
    "content-type": _content_types,
    "form-encoded": _form_encoded,
}


def _carrier_problem(attempt: Attempt, exchange: Exchange) -> str | None:
    """None when the answer is allowed; a 2xx passes only if it names the valid scene."""
    status = exchange.status
    if attempt.accepted_scene is None or status is None or not 200 <= status < 300:
        return _problem(exchange, attempt.allowed)
    try:
        checks.no_file_signatures(exchange, "")
        body = exchange.json()
    except ProbeFailure as failure:
        return failure.reason.lstrip(": ")
    except ValueError:
        return f"{status} without a JSON body"
    named = body.get("scene_path") if isinstance(body, dict) else None
    if named != attempt.accepted_scene:
        return f"{status} naming {str(named)[:80]!r}, not the scene in the body"
    return None


@pytest.mark.mutating
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("carrier", list(CARRIERS))
def test_scene_path_carrier_validated_as_loaded(
    st_client: ProbeClient, scene_guard: str, carrier: str, method: str, probe: ProbeContext
) -> None:
    """An invalid path is rejected however the request carries it (the string checked is loaded)."""
    probe.about(method, "/scene")
    failures: list[tuple[Attempt, Exchange, str]] = []
    statuses: Counter[str] = Counter()
    attempts = CARRIERS[carrier](scene_guard)

    def send(attempt: Attempt) -> Exchange:
        allowed = set(attempt.allowed) | ({200} if attempt.accepted_scene else set())
        return st_client.request(
            method,
            "/scene",
            json_body=attempt.json_body,
            content=attempt.content,
            headers=attempt.headers,
            params=attempt.params,
            expect=allowed,
        )

    for attempt, exchange in zip(attempts, st_client.fan_out(send, attempts), strict=True):
        statuses[str(exchange.status)] += 1
        problem = _carrier_problem(attempt, exchange)
        if problem is not None:
            failures.append((attempt, exchange, problem))
    shown = [(attempt.label, exchange, problem) for attempt, exchange, problem in failures]
    _judge_category(probe, f"carrier-{carrier}", method, statuses, shown, "not rejected")


# Positive controls: every budgeted run sends them (probes/budget.py).
CONTROLS = frozenset({"test_known_scenes_accepted", "test_unknown_valid_scene_gets_404"})


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """A category: its canonical examples, then up to --st-examples generated ones (fewer
    when the strategy runs out of distinct draws); a carrier: its fixed requests."""
    cost = Cost.exactly(0)
    for function, params in tests:
        name = params.rsplit("-", 1)[0]  # `<category or carrier>-<method>`
        if function == "test_invalid_scene_path_rejected":
            canonical = len(EXAMPLES[name])
            cost = cost + Cost(canonical, canonical + run.examples)
        elif function == "test_scene_path_carrier_validated_as_loaded":
            cost = cost + Cost.exactly(len(CARRIERS[name]("res://vr_main.tscn")))
        elif function == "test_known_scenes_accepted":
            cost = cost + Cost.exactly(len(run.profile.scenes))
        else:
            cost = cost + Cost.exactly(1)
    return cost
