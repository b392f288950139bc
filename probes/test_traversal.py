"""Scene-path traversal: every encoding trick gets exactly 400, on POST and PUT /scene.

404 is a failure too: it means the path was taken for a path and looked up.
Each category runs its canonical examples and then hypothesis examples
(derandomized, so every run and every xdist worker sends the same ones);
failures are collected rather than shrunk, so one run reports every
category that fails and what got through.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from probes import checks
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.payloads.traversal import CATEGORIES, EXAMPLES, category_names
from probes.plugin import ProbeContext, Run

METHODS = ("POST", "PUT")


def _problem(exchange: Exchange) -> str | None:
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
    if exchange.status != 400:
        return f"answered {exchange.status}, expected 400"
    try:
        checks.error_body(exchange, "")
    except ProbeFailure as failure:
        return f"400 without the JSON error body ({failure.reason.lstrip(': ')})"
    return None


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

    def attempt(payload: str) -> None:
        exchange = st_client.request(
            method, "/scene", json_body={"scene_path": payload}, expect={400}
        )
        statuses[str(exchange.status)] += 1
        problem = _problem(exchange)
        if problem is not None:
            failures.append((payload, exchange, problem))

    for payload in EXAMPLES[category]:
        attempt(payload)

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
        attempt(payload)

    generated()
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
        payload, exchange, problem = failures[0]
        raise ProbeFailure(
            f"{method} /scene [{category}]: {len(failures)}/{sent} invalid paths not rejected; "
            f"first {payload[:80]!r}: {problem}",
            exchange=exchange,
            measured=len(failures),
            limit=0,
        )


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
