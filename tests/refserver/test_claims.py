"""The claim rules a target may state: issuer (or none at all), audience, maximum lifetime.

The contract sets none of them, so each is configuration: the issuer-less
server is a legitimate target (it must not be flagged for ignoring ``iss``),
and a server that states an audience or a maximum lifetime must enforce it.
The faults that loosen them are proven in test_faults.py.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from refserver.__main__ import build_parser
from refserver.auth import AuthPolicy, mint_token, verify_token
from refserver.config import ConfigError, Settings, settings_from

SECRET = b"s" * 64


def _settings(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return settings_from(vars(build_parser().parse_args(argv)), env or {})


def _unverified(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- options -------------------------------------------------------------------------


def test_claim_options_from_cli_and_environment() -> None:
    s = _settings(["--no-issuer", "--audience", "api", "--max-token-lifetime", "3600"])
    assert (s.issuer, s.audience, s.max_token_lifetime_seconds) == (None, "api", 3600)
    assert s.token_ttl_seconds == 3600  # the default ttl fits under the stated maximum
    s = _settings(["--max-token-lifetime", "1e+06"])  # how "%g" writes a million seconds
    assert (s.max_token_lifetime_seconds, s.token_ttl_seconds) == (1e6, 86400)
    assert _settings(["--max-token-lifetime", "90.5"]).token_ttl_seconds == 90
    env = {
        "REFSERVER_NO_ISSUER": "yes",
        "REFSERVER_AUDIENCE": "api",
        "REFSERVER_MAX_TOKEN_LIFETIME": "600",
        "REFSERVER_TOKEN_TTL": "300",
    }
    s = _settings([], env)
    assert (s.issuer, s.audience, s.max_token_lifetime_seconds) == (None, "api", 600)
    assert s.token_ttl_seconds == 300
    assert _settings(["--issuer", "me"], {"REFSERVER_NO_ISSUER": "1"}).issuer == "me"
    assert _settings(["--no-issuer"], {"REFSERVER_ISSUER": "me"}).issuer is None
    assert _settings([], {"REFSERVER_NO_ISSUER": "0"}).issuer == "spacetime"
    defaults = _settings([])
    assert (defaults.issuer, defaults.audience, defaults.max_token_lifetime_seconds) == (
        "spacetime",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        ([], {"REFSERVER_NO_ISSUER": "maybe"}, "REFSERVER_NO_ISSUER"),
        ([], {"REFSERVER_NO_ISSUER": "1", "REFSERVER_ISSUER": "x"}, "exclude each other"),
        ([], {"REFSERVER_AUDIENCE": " "}, "REFSERVER_AUDIENCE"),
        ([], {"REFSERVER_MAX_TOKEN_LIFETIME": "0"}, "REFSERVER_MAX_TOKEN_LIFETIME"),
        (["--max-token-lifetime", "60", "--token-ttl", "61"], {}, "refuse its own token"),
        (["--fault", "auth-ignore-audience"], {}, "needs --audience"),
        (["--fault", "auth-ignore-lifetime"], {}, "needs --max-token-lifetime"),
        (["--fault", "auth-ignore-issuer", "--no-issuer"], {}, "needs an issuer"),
    ],
)
def test_bad_claim_settings_are_one_line_config_errors(
    argv: list[str], env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(argv, env)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


# --- verification (pure) -------------------------------------------------------------------


def test_issuer_less_mint_and_verify(forge: Any) -> None:
    token = mint_token(SECRET, None, 60, time.time())
    assert "iss" not in _unverified(token)
    assert verify_token(token, SECRET, None)["sub"]
    for iss in ("spacetime", "anyone", None):
        other = forge.signed(forge.claims(iss=iss), SECRET)
        assert verify_token(other, SECRET, None)["sub"] == "x"
    with pytest.raises(jwt.InvalidTokenError):  # everything else is still checked
        verify_token(forge.signed(forge.claims(exp=int(time.time()) - 1), SECRET), SECRET, None)


def test_audience_is_minted_and_required(forge: Any) -> None:
    token = mint_token(SECRET, "spacetime", 60, time.time(), audience="api")
    assert _unverified(token)["aud"] == "api"
    assert verify_token(token, SECRET, "spacetime", audience="api")
    assert verify_token(forge.signed(forge.claims(aud=["x", "api"]), SECRET), SECRET,
                        "spacetime", audience="api")  # fmt: skip
    for aud in ("other", None):
        with pytest.raises(jwt.InvalidTokenError):
            verify_token(forge.signed(forge.claims(aud=aud), SECRET), SECRET, "spacetime",
                         audience="api")  # fmt: skip
    loose = AuthPolicy(check_audience=False)
    assert verify_token(forge.signed(forge.claims(aud="other"), SECRET), SECRET, "spacetime",
                        loose, audience="api")  # fmt: skip


@pytest.mark.parametrize(
    ("iat", "exp", "accepted"),
    [
        (-10, 3590, True),  # exactly the maximum
        (-10, 3591, False),
        (None, 600, False),  # no iat: the lifetime cannot be shown
        ("0", 600, False),
        (True, 600, False),
    ],
)
def test_max_lifetime(forge: Any, iat: Any, exp: int, accepted: bool) -> None:
    now = int(time.time())
    issued = now + iat if isinstance(iat, int) and not isinstance(iat, bool) else iat
    token = forge.signed(forge.claims(iat=issued, exp=now + exp), SECRET)
    if accepted:
        assert verify_token(token, SECRET, "spacetime", max_lifetime_seconds=3600)
    else:
        with pytest.raises(jwt.InvalidTokenError):
            verify_token(token, SECRET, "spacetime", max_lifetime_seconds=3600)
    # without the rule, or with the fault's policy, only the contract's checks remain
    if isinstance(issued, int) and not isinstance(issued, bool):
        assert verify_token(token, SECRET, "spacetime")
        loose = AuthPolicy(check_lifetime=False)
        assert verify_token(token, SECRET, "spacetime", loose, max_lifetime_seconds=3600)


def test_issuer_is_still_required_by_default(forge: Any) -> None:
    for claims in (forge.claims("someone-else"), forge.claims(iss=None)):
        with pytest.raises(jwt.InvalidTokenError):
            verify_token(forge.signed(claims, SECRET), SECRET, "spacetime")


# --- through the app -----------------------------------------------------------------------


def test_issuer_less_server_accepts_its_token_and_ignores_iss(
    make_harness: Any, forge: Any
) -> None:
    h = make_harness(issuer=None)
    assert "iss" not in _unverified(h.token)
    assert h.get("/jobs").status_code == 200
    for claims in (forge.claims("someone-else"), forge.claims(iss=None)):
        token = forge.signed(claims, h.state.secret)
        assert h.get("/jobs", headers=_bearer(token), authorized=False).status_code == 200
    bad = forge.signed(forge.claims(iss=None), b"k" * 64)
    assert h.get("/jobs", headers=_bearer(bad), authorized=False).status_code == 401


def test_audience_and_lifetime_are_enforced_by_the_app(make_harness: Any, forge: Any) -> None:
    h = make_harness(audience="api", max_token_lifetime_seconds=3600, token_ttl_seconds=3600)
    minted = _unverified(h.token)
    assert minted["aud"] == "api" and minted["exp"] - minted["iat"] == 3600
    assert h.get("/jobs").status_code == 200
    now = int(time.time())
    refused = {
        "no aud": forge.claims(iat=now - 10),
        "other aud": forge.claims(aud="other", iat=now - 10),
        "too long": forge.claims(aud="api", iat=now - 10, exp=now + 7200),
    }
    for name, claims in refused.items():
        token = forge.signed(claims, h.state.secret)
        response = h.get("/jobs", headers=_bearer(token), authorized=False)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith("Bearer")
    fine = forge.signed(forge.claims(aud="api", iat=now - 10, exp=now + 600), h.state.secret)
    assert h.get("/jobs", headers=_bearer(fine), authorized=False).status_code == 200
