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
from collections.abc import Callable
from functools import cache

import pytest

from probes import checks
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.payloads.jwt_attacks import Attack, Attacks, attacker_rsa_key, verifier_attacks
from probes.payloads.tokens import BadAuthorization, bad_authorizations, claim_skips, forged_valid
from probes.plan import Cost, processes
from probes.profile import Auth, Endpoint
from probes.reporting import family_of
from probes.run import RUN, ProbeContext, Run


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


@cache
def _attacks(run_id: str, token: str, secret: str | None, auth: Auth) -> Attacks:
    """One set per run and process (the attacker's RSA key is made here, once)."""
    return verifier_attacks(
        token,
        secret=secret,
        now=time.time(),
        rsa_key=attacker_rsa_key(),
        issuer=auth.issuer,
        audience=auth.audience,
        max_lifetime_s=auth.max_lifetime_s,
    )


def _run_attacks(run: Run) -> Attacks:
    return _attacks(run.run_id, run.target.token, run.target.secret, run.profile.auth)


def _verifier_route(run: Run) -> Endpoint | None:
    """The one route the verifier attacks go to: the first protected GET (read-only)."""
    return next((e for e in _protected(run) if e.method == "GET"), None)


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
    if "attack" in metafunc.fixturenames:
        attacks = _run_attacks(run)
        names = [case.name for case in attacks.cases] + list(attacks.skipped)
        if _verifier_route(run) is None:
            no_route = pytest.mark.skip(reason="the profile has no protected GET endpoint")
            params = [pytest.param(name, id=name, marks=no_route) for name in names]
        else:
            params = [pytest.param(case.name, id=case.name) for case in attacks.cases] + [
                pytest.param(name, id=name, marks=pytest.mark.skip(reason=reason))
                for name, reason in attacks.skipped.items()
            ]
        metafunc.parametrize("attack", params)


def _send_bad(
    run: Run, client: ProbeClient, scene: str, endpoint: Endpoint, variant: str
) -> Exchange:
    return client.request(
        endpoint.method,
        endpoint.path,
        authorization=_run_variants(run)[variant].header,
        json_body=endpoint.body_for(scene) if endpoint.body else None,
        expect={401},
    )


# Per run, in this process: the matrix's answers sent ahead, by test id (each taken once).
_AHEAD: dict[str, dict[str, Exchange]] = {}


def _sent_ahead(
    request: pytest.FixtureRequest, run: Run, client: ProbeClient, scene: str | None
) -> dict[str, Exchange]:
    """The bad-credentials matrix and the verifier attacks this process will run, sent at
    the first of their tests.

    Each case is one request whose answer no other case needs, so they go out
    together (`ProbeClient.fan_out`, through the pacer as always) instead of one
    per test: a target 90 ms away would otherwise hold the matrix to 11 a second.
    Each sample is recorded as its own test's (`Run.attributed`), and its Allure step
    is made when that test takes it. Under xdist a worker does not know which tests
    it will be given, so each test sends its own; a case whose request raised is
    left out and sent by its test, which then meets the error itself. The positive
    controls still go one per test: sent alone, their answers are also the latency
    family's warm-up (`ProbeClient.answered_alone`). Without `scene` (an attack's test
    came first), the bad-credentials cases are left to their own tests.
    """
    ahead = _AHEAD.get(run.run_id)
    if ahead is not None:
        return ahead
    ahead = _AHEAD[run.run_id] = {}
    if processes() > 1:
        return ahead

    def attack(run: Run, client: ProbeClient, item: pytest.Function) -> Exchange:
        name = item.callspec.params["attack"]
        assert isinstance(name, str)
        return _send_attack(run, client, name)

    senders: dict[str, Callable[[Run, ProbeClient, pytest.Function], Exchange]] = {
        "test_verifier_refuses_attack": attack
    }
    if scene is not None:

        def bad(run: Run, client: ProbeClient, item: pytest.Function) -> Exchange:
            endpoint, variant = item.callspec.params["endpoint"], item.callspec.params["variant"]
            assert isinstance(endpoint, Endpoint) and isinstance(variant, str)
            return _send_bad(run, client, scene, endpoint, variant)

        senders["test_bad_credentials_get_401"] = bad
    cases = [
        item
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname in senders
        and not any(item.iter_markers("skip"))
        and not any(item.iter_markers("skipif"))
    ]

    def send(item: pytest.Function) -> tuple[str, Exchange | None]:
        try:
            with run.attributed((item.nodeid, family_of(item.nodeid))):
                return item.nodeid, senders[item.originalname](run, client, item)
        except Exception:  # its own test sends it again and meets the error itself
            return item.nodeid, None

    for nodeid, exchange in client.fan_out(send, cases, steps=False):
        if exchange is not None:
            ahead[nodeid] = exchange
    return ahead


def _taken_or_sent(
    request: pytest.FixtureRequest,
    run: Run,
    client: ProbeClient,
    scene: str | None,
    send: Callable[[], Exchange],
) -> Exchange:
    """This test's answer: sent ahead with the others (its Allure step made now), or sent."""
    exchange = _sent_ahead(request, run, client, scene).pop(request.node.nodeid, None)
    if exchange is None:
        return send()
    client.step(exchange)
    return exchange


def test_bad_credentials_get_401(
    request: pytest.FixtureRequest,
    st_run: Run,
    st_client: ProbeClient,
    scene_guard: str,
    endpoint: Endpoint,
    variant: str,
    probe: ProbeContext,
) -> None:
    probe.about(endpoint.method, endpoint.path)
    exchange = _taken_or_sent(
        request, st_run, st_client, scene_guard,
        lambda: _send_bad(st_run, st_client, scene_guard, endpoint, variant),
    )  # fmt: skip
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


def _authorization(case: Attack) -> str | tuple[str, ...] | None:
    """The client's `authorization`: None for no header, a tuple for several."""
    if len(case.authorization) > 1:
        return case.authorization
    return case.authorization[0] if case.authorization else None


def _status_among(exchange: Exchange, allowed: frozenset[int], what: str) -> None:
    if exchange.status not in allowed:
        got = exchange.status if exchange.status is not None else f"no response ({exchange.error})"
        raise checks.ProbeFailure(
            f"{what}: expected one of {sorted(allowed)}, got {got}",
            exchange=exchange,
            measured=exchange.status,
            limit=sorted(allowed),
        )


def _send_attack(run: Run, client: ProbeClient, attack: str) -> Exchange:
    endpoint = _verifier_route(run)
    assert endpoint is not None  # collection skips every case without one
    case = _run_attacks(run).by_name()[attack]
    return client.request(
        endpoint.method,
        endpoint.path,
        authorization=_authorization(case),
        headers={"Cookie": case.cookie} if case.cookie else None,
        params=dict(case.query) or None,
        expect=set(case.statuses),
    )


def test_verifier_refuses_attack(
    request: pytest.FixtureRequest,
    st_run: Run,
    st_client: ProbeClient,
    attack: str,
    probe: ProbeContext,
) -> None:
    """A token that chooses its own key, alg or encoding, or travels outside the header: 401.

    The duplicate-header and oversized cases may also be refused before auth
    (400, 431); a 401 must still carry the challenge and the error body.
    """
    endpoint = _verifier_route(st_run)
    assert endpoint is not None  # collection skips every case without one
    probe.about(endpoint.method, endpoint.path)
    case = _run_attacks(st_run).by_name()[attack]
    exchange = _taken_or_sent(
        request, st_run, st_client, None, lambda: _send_attack(st_run, st_client, attack)
    )
    what = f"{endpoint.key} with {attack} ({case.description})"
    _status_among(exchange, case.statuses, what)
    checks.no_protected_data(exchange, what)
    if exchange.status == 401:
        checks.bearer_challenge(exchange, what)
        checks.error_body(exchange, what)


# Positive controls: every budgeted run sends them (probes/budget.py), so no slice judges
# its 401s without knowing the route accepts a good token.
CONTROLS = frozenset({"test_valid_token_gets_2xx", "test_forged_token_gets_2xx"})


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """One request per probe; the forged control none without the signing secret."""
    unsent = {"test_forged_token_gets_2xx"} if run.target.secret is None else set()
    return Cost.exactly(sum(1 for function, _ in tests if function not in unsent))
