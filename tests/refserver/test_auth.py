"""Minting, verifying and the Authorization header parser, including the faulty policies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from refserver.auth import (
    AuthPolicy,
    SecretError,
    bearer_token,
    load_or_create_secret,
    mint_token,
    verify_token,
    write_private,
)

SECRET = b"s" * 64
OTHER = b"o" * 64


CONFORMING = AuthPolicy()


def _verify(token: str, policy: AuthPolicy = CONFORMING) -> dict[str, object]:
    return verify_token(token, SECRET, "spacetime", policy)


def test_minted_token_verifies_and_carries_the_claims() -> None:
    now = time.time()
    claims = _verify(mint_token(SECRET, "spacetime", 60, now))
    assert claims["iss"] == "spacetime"
    assert set(claims) == {"sub", "iss", "iat", "nbf", "exp"}
    assert claims["exp"] == int(now) + 60


def _with_payload(token: str, claims: dict[str, Any]) -> str:
    """The same header and signature over a different payload (a tampered token)."""
    header, _, signature = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_contract_rejections(forge: Any) -> None:
    good = forge.claims()
    valid = forge.signed(good, SECRET)
    header, payload, signature = valid.split(".")
    rejected = {
        "wrong key": forge.signed(good, OTHER),
        "alg none": forge.unsigned(good, "none"),
        "alg None": forge.unsigned(good, "None"),
        "alg HS512": jwt.encode(good, SECRET, algorithm="HS512"),
        "empty signature": f"{header}.{payload}.",
        "truncated signature": f"{header}.{payload}.{signature[:10]}",
        "tampered payload": _with_payload(valid, {**good, "sub": "admin"}),
        "two segments": f"{header}.{payload}",
        "garbage": "not-a-jwt",
        "expired": forge.signed(forge.claims(exp=int(time.time()) - 1), SECRET),
        "not yet valid": forge.signed(forge.claims(nbf=int(time.time()) + 600), SECRET),
        "no exp": forge.signed(forge.claims(exp=None), SECRET),
        "wrong issuer": forge.signed(forge.claims("someone-else"), SECRET),
        "no issuer": forge.signed({k: v for k, v in good.items() if k != "iss"}, SECRET),
    }
    assert _verify(valid)["sub"] == "x"
    for name, token in rejected.items():
        with pytest.raises(jwt.InvalidTokenError):
            _verify(token)
            pytest.fail(f"accepted: {name}")


def test_skip_signature_policy_checks_claims_only(forge: Any) -> None:
    policy = AuthPolicy(check_signature=False)
    good = forge.claims()
    valid = forge.signed(good, SECRET)
    assert _verify(forge.signed(good, OTHER), policy)
    assert _verify(_with_payload(valid, {**good, "sub": "admin"}), policy)["sub"] == "admin"
    header, payload, _ = valid.split(".")
    assert _verify(f"{header}.{payload}.", policy)
    with pytest.raises(jwt.InvalidTokenError):  # alg header still checked
        _verify(forge.unsigned(good, "none"), policy)
    with pytest.raises(jwt.InvalidTokenError):  # exp still checked
        _verify(forge.signed(forge.claims(exp=int(time.time()) - 5), OTHER), policy)


def test_alg_none_policy_rejects_only_lowercase_none(forge: Any) -> None:
    policy = AuthPolicy(unsigned_alg_variants=True)
    good = forge.claims()
    with pytest.raises(jwt.InvalidTokenError):
        _verify(forge.unsigned(good, "none"), policy)
    for alg in ("None", "NONE", "nOnE"):
        assert _verify(forge.unsigned(good, alg), policy)["sub"] == "x"
        assert _verify(forge.unsigned(good, alg, "AAAA"), policy)["sub"] == "x"
    with pytest.raises(jwt.InvalidTokenError):  # claims still checked
        _verify(forge.unsigned(forge.claims(exp=int(time.time()) - 5), "None"), policy)
    with pytest.raises(jwt.InvalidTokenError):  # HS256 still verified
        _verify(forge.signed(good, OTHER), policy)


def test_ignore_exp_policy(forge: Any) -> None:
    policy = AuthPolicy(check_times=False)
    expired = forge.signed(forge.claims(exp=int(time.time()) - 100), SECRET)
    future = forge.signed(forge.claims(nbf=int(time.time()) + 100), SECRET)
    assert _verify(expired, policy)
    assert _verify(future, policy)
    with pytest.raises(jwt.InvalidTokenError):
        _verify(forge.signed(forge.claims(), OTHER), policy)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Token abc", None),
        ("Basic abc", None),
        ("abc", None),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header).token == token


def test_any_scheme_takes_whatever_follows_the_space() -> None:
    assert bearer_token("Token abc", any_scheme=True).token == "abc"
    assert bearer_token("Basic abc", any_scheme=True).token == "abc"
    assert bearer_token("Basic abc").presented is False


def test_secret_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = load_or_create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first
    assert len(load_or_create_secret(None)) >= 32


def test_short_or_unreadable_secret_is_an_error(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("tiny")
    with pytest.raises(SecretError, match="shorter"):
        load_or_create_secret(short)
    with pytest.raises(SecretError, match="cannot use"):
        load_or_create_secret(tmp_path / "missing-dir" / "secret")


def test_write_private_replaces_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_private(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["token"]


# --- stricter than PyJWT, and the verifier attacks' faults ---------------------


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes = SECRET) -> str:
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _good(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "x", "iss": "spacetime", "iat": now, "nbf": now, "exp": now + 60}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


HS256 = {"alg": "HS256", "typ": "JWT"}


def test_padding_and_the_standard_alphabet_are_refused_though_pyjwt_reads_them() -> None:
    token = _hs256(HS256, _good())
    padded = token + "="
    jwt.decode(padded, SECRET, algorithms=["HS256"])  # PyJWT alone: accepted
    with pytest.raises(jwt.DecodeError):
        _verify(padded)
    with pytest.raises(jwt.DecodeError):
        _verify(token.replace(".", "+", 1))  # '+' outside base64url (and two segments)
    assert _verify(padded, AuthPolicy(strict_encoding=False))["sub"] == "x"


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", "9999999999"), ("exp", True), ("nbf", "0"), ("nbf", False), ("iat", "0")],
)
def test_numeric_dates_must_be_json_numbers(claim: str, value: object) -> None:
    token = _hs256(HS256, _good(**{claim: value}))
    with pytest.raises(jwt.PyJWTError):
        _verify(token)


def test_a_numeric_date_beyond_a_double_is_refused_not_a_crash() -> None:
    header, claims = _b64(HS256), json.dumps(_good(exp=None))[:-1] + ', "exp": 1e400}'
    signing_input = f"{header}.{base64.urlsafe_b64encode(claims.encode()).rstrip(b'=').decode()}"
    digest = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    with pytest.raises(jwt.PyJWTError):
        _verify(token)
    assert _verify(token, AuthPolicy(strict_claim_types=False))["sub"] == "x"


def test_unknown_crit_is_refused_unless_the_fault_ignores_it() -> None:
    token = _hs256({**HS256, "crit": ["x-new"], "x-new": 1}, _good())
    with pytest.raises(jwt.InvalidTokenError):
        _verify(token)
    assert _verify(token, AuthPolicy(check_crit=False))["sub"] == "x"


FAULT_POLICIES = {
    "lax-base64": AuthPolicy(strict_encoding=False),
    "lax-claim-types": AuthPolicy(strict_claim_types=False),
    "ignore-crit": AuthPolicy(check_crit=False),
    "trust-jwk": AuthPolicy(trust_jwk=True),
    "key-url-fail-open": AuthPolicy(key_url_fail_open=True),
    "kid-path": AuthPolicy(kid_path=True),
    "kid-sql": AuthPolicy(kid_sql=True),
    "alg-from-header": AuthPolicy(alg_from_header=True),
    "fallback-keys": AuthPolicy(fallback_keys=True),
    "long-token-500": AuthPolicy(crash_above_chars=4096),
}


@pytest.mark.parametrize("policy", FAULT_POLICIES.values(), ids=FAULT_POLICIES.keys())
def test_each_fault_policy_still_accepts_the_valid_token_and_refuses_a_wrong_key(
    policy: AuthPolicy,
) -> None:
    """A fault loosens one check; the server stays usable and keeps its other checks."""
    assert _verify(mint_token(SECRET, "spacetime", 60, time.time()), policy)["sub"]
    with pytest.raises(jwt.PyJWTError):
        _verify(_hs256(HS256, _good(), OTHER), policy)
    with pytest.raises(jwt.PyJWTError):
        _verify(_hs256(HS256, _good(exp=int(time.time()) - 60)), policy)


def test_kid_faults_read_the_key_the_kid_leads_to() -> None:
    dev_null = _hs256({**HS256, "kid": "../" * 10 + "dev/null"}, _good(), b"")
    sql = _hs256({**HS256, "kid": "x' UNION SELECT 'key'--"}, _good(), b"key")
    assert _verify(dev_null, AuthPolicy(kid_path=True))["sub"] == "x"
    assert _verify(sql, AuthPolicy(kid_sql=True))["sub"] == "x"
    for token in (dev_null, sql):
        with pytest.raises(jwt.PyJWTError):
            _verify(token)
    with pytest.raises(jwt.PyJWTError):  # a kid naming no file is no key at all
        _verify(_hs256({**HS256, "kid": "missing"}, _good(), b""), AuthPolicy(kid_path=True))


def test_duplicate_authorization_headers_get_400_and_only_the_header_authenticates(
    make_harness: Any,
) -> None:
    h = make_harness()
    valid, bad = f"Bearer {h.token}", f"Bearer {_hs256(HS256, _good(), OTHER)}"

    async def get(headers: list[tuple[str, str]], params: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=h.api, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://refserver") as c:
            return await c.get("/jobs", headers=headers, params=params)

    for pair in ((valid, bad), (bad, valid), (valid, valid)):
        response = asyncio.run(get([("Authorization", v) for v in pair], {}))
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert response.headers["www-authenticate"].startswith("Bearer")
    for name in ("access_token", "token", "jwt"):
        assert asyncio.run(get([], {name: h.token})).status_code == 401
        assert asyncio.run(get([("Cookie", f"{name}={h.token}")], {})).status_code == 401
    assert asyncio.run(get([("Authorization", valid)], {})).status_code == 200
    failures = h.state.counters.auth_failures
    assert failures == 9
