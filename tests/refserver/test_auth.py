"""Minting, verifying and the Authorization header parser, including the faulty policies."""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

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
