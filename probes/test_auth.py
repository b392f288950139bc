"""Auth: every protected endpoint and method answers 401, a Bearer challenge and nothing else.

Every bad credential is tried on every protected endpoint, because the
classic slip is one route that forgot its guard. A valid token must get 2xx
(positive control), or a 401 everywhere would pass as "secure".
"""

from __future__ import annotations

import time
from functools import cache

import jwt
import pytest

from probes import checks
from probes.client import ProbeClient
from probes.payloads.tokens import BadAuthorization, bad_authorizations
from probes.plugin import RUN, ProbeContext, Run
from probes.profile import Endpoint


def _issuer(token: str) -> str:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "spacetime"
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else "spacetime"


@cache
def _variants(run_id: str, token: str, secret: str | None) -> dict[str, BadAuthorization]:
    """One set per run (run_id keys the cache), minted with one `now`."""
    return {
        bad.name: bad
        for bad in bad_authorizations(token, secret=secret, now=time.time(), issuer=_issuer(token))
    }


def _protected(run: Run) -> list[Endpoint]:
    return [endpoint for endpoint in run.profile.endpoints if endpoint.auth]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    run = metafunc.config.stash.get(RUN, None)
    if run is None:
        return
    endpoints = [
        pytest.param(
            e, id=e.key.replace(" ", ""), marks=[pytest.mark.mutating] if e.mutating else []
        )
        for e in _protected(run)
    ]
    if "endpoint" in metafunc.fixturenames:
        metafunc.parametrize("endpoint", endpoints)
    if "variant" in metafunc.fixturenames:
        names = list(_variants(run.run_id, run.target.token, run.target.secret))
        metafunc.parametrize("variant", names)


def test_bad_credentials_get_401(
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    endpoint: Endpoint,
    variant: str,
    probe: ProbeContext,
) -> None:
    probe.about(endpoint.method, endpoint.path)
    bad = _variants(st_run.run_id, st_run.target.token, st_run.target.secret)[variant]
    exchange = st_client.request(
        endpoint.method,
        endpoint.path,
        authorization=bad.header,
        json_body=endpoint.body_for(scene_guard) if endpoint.body else None,
        expect={401},
    )
    what = f"{endpoint.key} with {variant} credentials"
    checks.status_is(exchange, 401, what)
    checks.bearer_challenge(exchange, what)
    checks.no_protected_data(exchange, what)
    checks.error_body(exchange, what)


def test_valid_token_gets_2xx(
    st_client: ProbeClient, scene_guard: str, endpoint: Endpoint, probe: ProbeContext
) -> None:
    probe.about(endpoint.method, endpoint.path)
    exchange = st_client.request(
        endpoint.method,
        endpoint.path,
        json_body=endpoint.body_for(scene_guard) if endpoint.body else None,
        expect=set(range(200, 300)),
    )
    checks.status_success(exchange, f"{endpoint.key} with the valid token")
