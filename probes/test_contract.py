"""Contract: every endpoint answers its documented JSON shape with the JSON content type.

Strict shapes: `"queue_length": "0"` is a breach even though it looks fine
in a browser; an error is `{"error", "message"}` JSON too. The shapes come
from a registry keyed by the profile's kind (`schemas.RESPONSES_BY_KIND`); an
endpoint of the profile with no known shape is skipped, saying so.
"""

from __future__ import annotations

import pytest

from probes import checks, schemas
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.plan import Cost
from probes.profile import Endpoint
from probes.run import RUN, ProbeContext, Run

# A request each kind's contract answers with 400: (method, path, body, what).
BAD_REQUESTS: dict[str, tuple[str, str, object, str]] = {
    "spacetime": ("PUT", "/scene", {}, "PUT /scene without scene_path"),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None or "endpoint" not in metafunc.fixturenames:
        return
    shapes = schemas.RESPONSES_BY_KIND[run.profile.kind]
    params = []
    for e in run.profile.endpoints:
        marks = [pytest.mark.mutating] if e.mutating else []
        if (e.method, e.path) not in shapes:
            reason = f"{e.key}: no JSON shape known for kind {run.profile.kind}"
            marks.append(pytest.mark.skip(reason=reason))
        params.append(pytest.param(e, id=e.key.replace(" ", ""), marks=marks))
    metafunc.parametrize("endpoint", params)


def test_response_shape(
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    endpoint: Endpoint,
    probe: ProbeContext,
) -> None:
    probe.about(endpoint.method, endpoint.path)
    success = set(range(200, 300))
    body = endpoint.body_for(scene_guard) if endpoint.body else None
    exchange = st_client.request(endpoint.method, endpoint.path, json_body=body, expect=success)
    what = f"{endpoint.key}"
    checks.status_success(exchange, what)
    checks.json_content_type(exchange, what)
    body = checks.json_body(exchange, what)
    shape = schemas.RESPONSES_BY_KIND[st_run.profile.kind][(endpoint.method, endpoint.path)]
    problem = schemas.violations(shape, body)
    if problem is not None:
        raise ProbeFailure(
            f"{what}: response does not match the contract: {problem}", exchange=exchange
        )


def test_unknown_route_is_json_404(
    st_run: Run, st_client: ProbeClient, probe: ProbeContext
) -> None:
    if st_run.profile.kind not in schemas.ERROR_BODY_KINDS:
        pytest.skip(f"no error body shape known for kind {st_run.profile.kind}")
    probe.about("GET", "/spacetime-probes-no-such-route")
    exchange = st_client.request("GET", "/spacetime-probes-no-such-route", expect={404})
    checks.status_is(exchange, 404, "GET of an unknown route")
    checks.error_body(exchange, "GET of an unknown route")


@pytest.mark.mutating
def test_bad_request_is_json_400(st_run: Run, st_client: ProbeClient, probe: ProbeContext) -> None:
    bad = BAD_REQUESTS.get(st_run.profile.kind)
    if bad is None:
        pytest.skip(f"no bad-request example known for kind {st_run.profile.kind}")
    method, path, body, what = bad
    probe.about(method, path)
    exchange = st_client.request(method, path, json_body=body, expect={400})
    checks.status_is(exchange, 400, what)
    checks.error_body(exchange, what)


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """One request per probe."""
    return Cost.exactly(len(tests))
