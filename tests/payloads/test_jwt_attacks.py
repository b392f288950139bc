"""The verifier attacks: each carries the one defect it names, and a careful verifier refuses it.

Two verifiers judge every case: PyJWT with the contract's settings (where
it is lax, the test names the cases it lets through, which is why the
reference server adds its own strictness), and the reference server's
conforming ``verify_token``, which must refuse them all. Then each case is
shown to be *built right*: the key, alg or claim it smuggles really is what
a faulty verifier would accept (a verifier that took the jwk, read kid as
a path, used the weak key... returns the claims), so a 401 to it means the
target refused the attack, not a broken token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from probes.allure_report import exchange_attachment
from probes.exchange import Exchange
from probes.payloads.jwt_attacks import (
    DUPLICATE_STATUSES,
    KID_PATH,
    KID_SQL,
    LONG_STATUSES,
    LONG_TOKEN_KIB,
    ONLY_401,
    TOKEN_NAMES,
    TRANSPORT_JTI,
    UNKNOWN_EXTENSION,
    WEAK_KEYS,
    Attack,
    Attacks,
    attacker_rsa_key,
    verifier_attacks,
)
from probes.payloads.tokens import b64url_decode, forged_valid
from probes.redact import JWT_SHAPE, redact, token_parts
from refserver.auth import verify_token

SECRET = "spacetime-test-secret-" + "0123456789abcdef" * 4
ISSUER = "spacetime"
AUDIENCE = "spacetime-api"
LIFETIME_S = 86400.0

NO_SECRET_NAMES = {
    "jwk-embedded-oct", "jwk-embedded-rsa", "jku-attacker-url", "x5u-attacker-url",
    "kid-path-dev-null", "kid-sql-union", "empty-key",
    *(f"weak-key-{key}" for key in WEAK_KEYS),
    "b64-padded-signature", "jws-json-serialization", "malformed-five-segments",
    "duplicate-header-valid-first", "duplicate-header-bad-first",
    *(f"long-token-{kib}k" for kib in LONG_TOKEN_KIB),
}  # fmt: skip
SECRET_NAMES = {
    "alg-hs384", "alg-rs256-hmac", "alg-es256-hmac", "alg-missing", "alg-null", "alg-array",
    "alg-lowercase", "alg-trailing-space", "exp-string", "exp-boolean", "exp-overflow",
    "nbf-string", "nbf-boolean", "nbf-huge", "nbf-overflow", "exp-missing", "crit-unknown",
    *(f"query-{name}" for name in TOKEN_NAMES), *(f"cookie-{name}" for name in TOKEN_NAMES),
}  # fmt: skip
#: What PyJWT 2.x, the library the reference server uses, lets through on its own.
PYJWT_LAX = {"b64-padded-signature", "exp-string", "nbf-string", "nbf-boolean"}


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return attacker_rsa_key()


def _mint(now: float, **extra: Any) -> str:
    claims = {"sub": "vr-client", "iss": ISSUER, "aud": AUDIENCE, "iat": int(now),
              "nbf": int(now), "exp": int(now) + 3600, **extra}  # fmt: skip
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _attacks(token: str, now: float, secret: str | None = SECRET, **rules: Any) -> Attacks:
    stated = {"issuer": ISSUER, "audience": AUDIENCE, "max_lifetime_s": LIFETIME_S, **rules}
    return verifier_attacks(token, secret=secret, now=now, rsa_key=_rsa_key(), **stated)


@pytest.fixture(scope="module")
def now() -> float:
    return time.time()


@pytest.fixture(scope="module")
def token(now: float) -> str:
    return _mint(now)


@pytest.fixture(scope="module")
def cases(token: str, now: float) -> dict[str, Attack]:
    return _attacks(token, now).by_name()


def _bearer(case: Attack) -> str:
    (value,) = case.authorization
    scheme, _, token = value.partition(" ")
    assert scheme == "Bearer"
    return token


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    header, payload, signature = token.split(".")
    return (
        json.loads(b64url_decode(header)),
        json.loads(b64url_decode(payload)),
        b64url_decode(signature),
    )


def _hmac_ok(token: str, key: bytes, digest: Any = hashlib.sha256) -> bool:
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(key, signing_input.encode(), digest).digest()
    return hmac.compare_digest(b64url_decode(signature), expected)


def _pyjwt(token: str) -> None:
    jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE,
               options={"require": ["exp", "iss"]})  # fmt: skip


def _conforming(token: str) -> None:
    verify_token(token, SECRET.encode(), ISSUER, audience=AUDIENCE,
                 max_lifetime_seconds=LIFETIME_S)  # fmt: skip


def test_with_the_secret_every_case_is_built_and_none_skipped(cases: dict[str, Attack]) -> None:
    assert set(cases) == NO_SECRET_NAMES | SECRET_NAMES | {"b64-standard-alphabet"}
    assert {name for name, case in cases.items() if case.needs_secret} >= SECRET_NAMES
    assert not {name for name, case in cases.items() if case.needs_secret} & NO_SECRET_NAMES


def test_without_the_secret_the_secret_cases_are_skipped_with_the_reason(
    token: str, now: float
) -> None:
    attacks = _attacks(token, now, secret=None)
    built = {case.name for case in attacks.cases}
    assert built >= NO_SECRET_NAMES and not built & SECRET_NAMES
    assert not any(case.needs_secret for case in attacks.cases)
    assert set(attacks.skipped) == SECRET_NAMES | ({"b64-standard-alphabet"} - built)
    for name in SECRET_NAMES:
        assert "--st-secret-file" in attacks.skipped[name], name


def test_exp_missing_is_sent_only_under_a_stated_lifetime(token: str, now: float) -> None:
    attacks = _attacks(token, now, max_lifetime_s=None)
    assert "exp-missing" not in attacks.by_name()
    assert "the contract does not require exp" in attacks.skipped["exp-missing"]
    assert attacks.by_name().keys() | {"exp-missing"} == _attacks(token, now).by_name().keys()


def test_same_inputs_same_cases(token: str, now: float) -> None:
    assert _attacks(token, now) == _attacks(token, now)


@pytest.mark.parametrize("name", sorted(NO_SECRET_NAMES | SECRET_NAMES | {"b64-standard-alphabet"}))
def test_the_conforming_reference_verifier_refuses_every_bearer_case(
    cases: dict[str, Attack], token: str, name: str
) -> None:
    bad = [v for v in cases[name].authorization if v != f"Bearer {token}"]  # duplicates: one
    assert len(bad) == 1 or not cases[name].authorization
    for value in bad:
        with pytest.raises(jwt.PyJWTError):
            _conforming(value.partition(" ")[2])


def test_pyjwt_alone_refuses_all_but_the_known_lax_cases(cases: dict[str, Attack]) -> None:
    """Why the reference server checks encoding and claim types itself."""
    accepted = set()
    for name, case in cases.items():
        if len(case.authorization) != 1:
            continue
        try:
            _pyjwt(_bearer(case))
        except jwt.PyJWTError:
            continue
        accepted.add(name)
    assert accepted == PYJWT_LAX


# --- each case is built to pass the verifier it was made for ---------------------


def test_embedded_jwk_cases_verify_with_the_key_they_carry(cases: dict[str, Attack]) -> None:
    for name, alg in (("jwk-embedded-oct", "HS256"), ("jwk-embedded-rsa", "RS256")):
        token = _bearer(cases[name])
        header, claims, _ = _parts(token)
        assert header["alg"] == alg
        key = jwt.PyJWK(header["jwk"], algorithm=alg)
        assert jwt.decode(token, key, algorithms=[alg], audience=AUDIENCE) == claims
    oct_key = base64.urlsafe_b64decode(_parts(_bearer(cases["jwk-embedded-oct"]))[0]["jwk"]["k"]
                                       + "==")  # fmt: skip
    assert oct_key != SECRET.encode()


def test_key_url_cases_name_an_unreachable_url_and_verify_with_the_attackers_key(
    cases: dict[str, Attack],
) -> None:
    public = _rsa_key().public_key()
    for param in ("jku", "x5u"):
        token = _bearer(cases[f"{param}-attacker-url"])
        header, claims, _ = _parts(token)
        assert urllib.parse.urlsplit(header[param]).hostname == "127.0.0.1"
        assert jwt.decode(token, public, algorithms=["RS256"], audience=AUDIENCE) == claims


def test_kid_cases_are_signed_with_the_key_their_kid_leads_to(cases: dict[str, Attack]) -> None:
    path_token, sql_token = _bearer(cases["kid-path-dev-null"]), _bearer(cases["kid-sql-union"])
    assert _parts(path_token)[0]["kid"] == KID_PATH and KID_PATH.endswith("/dev/null")
    assert _hmac_ok(path_token, b"")
    assert _parts(sql_token)[0]["kid"] == KID_SQL
    assert _hmac_ok(sql_token, b"key")


def test_empty_and_weak_key_cases_verify_with_that_key(cases: dict[str, Attack]) -> None:
    assert _hmac_ok(_bearer(cases["empty-key"]), b"")
    for key in WEAK_KEYS:
        token = _bearer(cases[f"weak-key-{key}"])
        assert _hmac_ok(token, key.encode()) and not _hmac_ok(token, SECRET.encode())


@pytest.mark.parametrize(
    ("name", "alg", "digest"),
    [
        ("alg-hs384", "HS384", hashlib.sha384),
        ("alg-rs256-hmac", "RS256", hashlib.sha256),
        ("alg-es256-hmac", "ES256", hashlib.sha256),
        ("alg-null", None, hashlib.sha256),
        ("alg-array", ["HS256"], hashlib.sha256),
        ("alg-lowercase", "hs256", hashlib.sha256),
        ("alg-trailing-space", "HS256 ", hashlib.sha256),
    ],
)
def test_alg_cases_name_their_alg_and_are_hmacs_over_the_secret(
    cases: dict[str, Attack], name: str, alg: Any, digest: Any
) -> None:
    token = _bearer(cases[name])
    assert _parts(token)[0]["alg"] == alg
    assert _hmac_ok(token, SECRET.encode(), digest)


def test_alg_missing_has_no_alg_and_a_valid_hmac(cases: dict[str, Attack]) -> None:
    token = _bearer(cases["alg-missing"])
    assert "alg" not in _parts(token)[0]
    assert _hmac_ok(token, SECRET.encode())


@pytest.mark.parametrize(
    ("name", "claim", "kind"),
    [
        ("exp-string", "exp", str),
        ("exp-boolean", "exp", bool),
        ("exp-overflow", "exp", float),
        ("nbf-string", "nbf", str),
        ("nbf-boolean", "nbf", bool),
        ("nbf-huge", "nbf", int),
        ("nbf-overflow", "nbf", float),
    ],
)
def test_claim_type_cases_change_one_claim_type_and_are_correctly_signed(
    cases: dict[str, Attack], token: str, name: str, claim: str, kind: type
) -> None:
    forged = _bearer(cases[name])
    header, claims, _ = _parts(forged)
    assert _hmac_ok(forged, SECRET.encode()) and header["alg"] == "HS256"
    assert type(claims[claim]) is kind
    if kind is float:
        assert claims[claim] == float("inf")  # 1e400: JSON allows it, a double does not
    original = _parts(token)[1]
    others = {k: v for k, v in claims.items() if k not in {claim, "exp"}}
    assert others == {k: v for k, v in original.items() if k not in {claim, "exp"}}


def test_exp_missing_and_crit_are_otherwise_valid(cases: dict[str, Attack], token: str) -> None:
    missing = _bearer(cases["exp-missing"])
    assert "exp" not in _parts(missing)[1] and _hmac_ok(missing, SECRET.encode())
    crit = _bearer(cases["crit-unknown"])
    header = _parts(crit)[0]
    assert header["crit"] == [UNKNOWN_EXTENSION] and UNKNOWN_EXTENSION in header
    assert _hmac_ok(crit, SECRET.encode())
    assert _parts(crit)[1] == _parts(token)[1]


def test_encoding_cases_keep_the_valid_signature(cases: dict[str, Attack], token: str) -> None:
    padded = _bearer(cases["b64-padded-signature"])
    assert padded.rstrip("=") == token and padded != token
    standard = _bearer(cases["b64-standard-alphabet"])
    head, _, signature = standard.rpartition(".")
    assert set(signature) & set("+/") and not set(signature) & set("-_")
    canonical = f"{head}.{signature.replace('+', '-').replace('/', '_')}"
    _pyjwt(canonical)  # valid once written in base64url: the alphabet is the only defect
    serialized = json.loads(_bearer(cases["jws-json-serialization"]))
    assert ".".join(serialized[k] for k in ("protected", "payload", "signature")) == token
    assert _bearer(cases["malformed-five-segments"]).count(".") == 4


def test_standard_alphabet_falls_back_to_a_forged_token(now: float) -> None:
    """A signature without '-' or '_' cannot show the alphabet; a forged token can."""
    plain = next(
        t
        for t in (_mint(now, jti=str(i)) for i in range(200))
        if not set(t.split(".")[2]) & {"-", "_"}
    )
    case = _attacks(plain, now).by_name()["b64-standard-alphabet"]
    assert case.needs_secret
    assert "b64-standard-alphabet" in _attacks(plain, now, secret=None).skipped


def test_transport_cases_carry_a_forged_valid_token_and_never_the_real_one(
    cases: dict[str, Attack], token: str
) -> None:
    forged = cases["query-token"].query[0][1]
    assert forged != token and _parts(forged)[1] == {**_parts(token)[1], "jti": TRANSPORT_JTI}
    _pyjwt(forged)  # valid: only where it travels is wrong
    for name in TOKEN_NAMES:
        query, cookie = cases[f"query-{name}"], cases[f"cookie-{name}"]
        assert query.authorization == () and query.query == ((name, forged),)
        assert cookie.authorization == () and cookie.cookie == f"{name}={forged}"
    for case in cases.values():
        carried = " ".join(v for _, v in case.query) + (case.cookie or "")
        # The header segment is every HS256 JWT's; the payload and signature are this one's.
        assert not any(part in carried for part in (token, *token.split(".")[1:])), case.name


def test_duplicate_and_long_cases(cases: dict[str, Attack], token: str) -> None:
    first, second = cases["duplicate-header-valid-first"], cases["duplicate-header-bad-first"]
    assert first.authorization == tuple(reversed(second.authorization))
    assert first.authorization[0] == f"Bearer {token}"
    with pytest.raises(jwt.InvalidSignatureError):
        _pyjwt(first.authorization[1].partition(" ")[2])
    assert first.statuses == second.statuses == DUPLICATE_STATUSES
    for kib in LONG_TOKEN_KIB:
        case = cases[f"long-token-{kib}k"]
        assert 0.9 * kib * 1024 <= len(_bearer(case)) <= 1.1 * kib * 1024
        assert case.statuses == LONG_STATUSES
    others = set(cases) - {"duplicate-header-valid-first", "duplicate-header-bad-first"}
    assert all(cases[n].statuses == ONLY_401 for n in others if not n.startswith("long-token"))


def test_every_case_is_redacted_wherever_the_request_is_shown(
    cases: dict[str, Attack], token: str
) -> None:
    """URL, headers and cookie of each case, as curl and as the Allure attachment: no token left."""
    secrets = (*token_parts(token), SECRET)
    forged = cases["query-token"].query[0][1]
    assert forged_valid(token, secret=SECRET, issuer=ISSUER, audience=AUDIENCE) == token
    for case in cases.values():
        query = f"?{urllib.parse.urlencode(case.query)}" if case.query else ""
        headers = {"Authorization": ", ".join(case.authorization)} if case.authorization else {}
        if case.cookie:
            headers["Cookie"] = case.cookie
        exchange = Exchange("GET", f"http://127.0.0.1:8080/scene{query}", "/scene", headers,
                            None, 401)  # fmt: skip
        for shown in (exchange.curl(secrets), exchange_attachment(exchange, secrets),
                      redact(f"{case.description} {exchange.url}", secrets)):  # fmt: skip
            assert not JWT_SHAPE.search(shown.replace("<redacted>", "")), (case.name, shown)
            leaked = [part for part in (*secrets, forged, *forged.split(".")) if part in shown]
            assert not leaked, case.name
