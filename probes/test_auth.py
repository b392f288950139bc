"""Auth: every protected endpoint and method answers 401, a Bearer challenge and nothing else.

Every bad credential is tried on every protected endpoint, because the
classic slip is one route that forgot its guard. A valid token must get 2xx
(positive control), or a 401 everywhere would pass as "secure"; with the
signing secret, so must a token the probes sign themselves, or the forged
cases' 401s could be for a defect they were not built to carry.

The contract's own rules (scheme, signature, alg, exp, nbf, malformed) are
probed on every target. Issuer, audience and maximum lifetime are not the
contract's: they are probed only where the profile's `auth` section states
them, and otherwise show as skipped, with the reason, on every route.
"""

from __future__ import annotations

import time
from functools import cache

import pytest

from probes import checks
from probes.client import ProbeClient
from probes.payloads.tokens import BadAuthorization, bad_authorizations, claim_skips, forged_valid
from probes.plugin import RUN, ProbeContext, Run
from probes.profile import Auth, Endpoint


@cache
def _variants(
    run_id: str, token: str, secret: str | None, auth: Auth
) -> dict[str, BadAuthorization]:
    """One set per run (run_id keys the cache), minted with one `now`."""
    cases = bad_authorizations(
        token,
        secret=secret,
        now=time.time(),
        issuer=auth.issuer,
        audience=auth.audience,
        max_lifetime_s=auth.max_lifetime_s,
    )
    return {bad.name: bad for bad in cases}


def _run_variants(run: Run) -> dict[str, BadAuthorization]:
    return _variants(run.run_id, run.target.token, run.target.secret, run.profile.auth)


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
        auth = run.profile.auth
        skips = claim_skips(
            issuer=auth.issuer,
            audience=auth.audience,
            max_lifetime_s=auth.max_lifetime_s,
            secret_known=run.target.secret is not None,
        )
        variants = [pytest.param(name, id=name) for name in _run_variants(run)] + [
            pytest.param(name, id=name, marks=pytest.mark.skip(reason=reason))
            for name, reason in skips.items()
        ]
        metafunc.parametrize("variant", variants)


def test_bad_credentials_get_401(
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    endpoint: Endpoint,
    variant: str,
    probe: ProbeContext,
) -> None:
    probe.about(endpoint.method, endpoint.path)
    bad = _run_variants(st_run)[variant]
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


def test_forged_token_gets_2xx(
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    endpoint: Endpoint,
    probe: ProbeContext,
) -> None:
    """The valid token's claims with the stated iss/aud, signed here: accepted like the original.

    Every correctly signed bad case is this token plus one defect; if the
    target refuses this one too (wrong secret file, a stated issuer it does
    not use), their 401s prove nothing, and this probe says so.
    """
    if st_run.target.secret is None:
        pytest.skip("no signing secret (--st-secret-file): no token is forged")
    probe.about(endpoint.method, endpoint.path)
    auth = st_run.profile.auth
    token = forged_valid(
        st_run.target.token, secret=st_run.target.secret, issuer=auth.issuer, audience=auth.audience
    )
    exchange = st_client.request(
        endpoint.method,
        endpoint.path,
        authorization=f"Bearer {token}",
        json_body=endpoint.body_for(scene_guard) if endpoint.body else None,
        expect=set(range(200, 300)),
    )
    checks.status_success(
        exchange, f"{endpoint.key} with a token forged from the valid one and the stated claims"
    )
