"""Contract: every endpoint answers its documented JSON shape with the JSON content type.

Strict shapes: `"queue_length": "0"` is a breach even though it looks fine
in a browser; an error is `{"error", "message"}` JSON too.
"""

from __future__ import annotations

import pytest

from probes import checks, schemas
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.plugin import RUN, ProbeContext
from probes.profile import Endpoint


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None or "endpoint" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(
            e, id=e.key.replace(" ", ""), marks=[pytest.mark.mutating] if e.mutating else []
        )
        for e in run.profile.endpoints
        if (e.method, e.path) in schemas.RESPONSES
    ]
    metafunc.parametrize("endpoint", params)


def test_response_shape(
    st_client: ProbeClient, scene_guard: str, endpoint: Endpoint, probe: ProbeContext
) -> None:
    probe.about(endpoint.method, endpoint.path)
    exchange = st_client.request(
        endpoint.method,
        endpoint.path,
        json_body=endpoint.body_for(scene_guard) if endpoint.body else None,
        expect=set(range(200, 300)),
    )
    what = f"{endpoint.key}"
    checks.status_success(exchange, what)
    checks.json_content_type(exchange, what)
    body = checks.json_body(exchange, what)
    problem = schemas.violations(schemas.RESPONSES[(endpoint.method, endpoint.path)], body)
    if problem is not None:
        raise ProbeFailure(
            f"{what}: response does not match the contract: {problem}", exchange=exchange
        )


def test_unknown_route_is_json_404(st_client: ProbeClient, probe: ProbeContext) -> None:
    probe.about("GET", "/spacetime-probes-no-such-route")
    exchange = st_client.request("GET", "/spacetime-probes-no-such-route", expect={404})
    checks.status_is(exchange, 404, "GET of an unknown route")
    checks.error_body(exchange, "GET of an unknown route")


@pytest.mark.mutating
def test_bad_request_is_json_400(st_client: ProbeClient, probe: ProbeContext) -> None:
    probe.about("PUT", "/scene")
    exchange = st_client.request("PUT", "/scene", json_body={}, expect={400})
    checks.status_is(exchange, 400, "PUT /scene without scene_path")
    checks.error_body(exchange, "PUT /scene without scene_path")
