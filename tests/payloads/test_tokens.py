"""Every bad Authorization value is refused by a correct HS256 verifier.

PyJWT plays the careful server here: a Bearer token from the list must fail
``jwt.decode`` with the contract's settings, and with the exception that
names the one defect the case was built to carry. The non-Bearer cases carry
the *valid* token on purpose, so the scheme is their only defect.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.payloads.tokens import BadAuthorization, b64url_decode, bad_authorizations

SECRET = "spacetime-test-secret-" + "0123456789abcdef" * 4
ISSUER = "spacetime-httpapi"

BASE_NAMES = [
    "missing",
    "empty-header",
    "scheme-only",
    "wrong-scheme-token",
    "wrong-scheme-basic",
    "no-scheme",
    "malformed-two-segments",
    "malformed-four-segments",
    "malformed-not-base64",
    "tampered-payload",
    "alg-none-lower",
    "alg-none-title",
    "alg-none-upper",
    "alg-none-mixed",
    "empty-signature",
    "random-key-signature",
    "truncated",
    "truncated-segment",
]
SECRET_NAMES = ["expired", "not-yet-valid", "wrong-issuer", "alg-hs512"]

#: The PyJWT error that proves each Bearer case fails for its own reason.
EXPECTED_ERRORS: dict[str, type[jwt.PyJWTError]] = {
    "malformed-two-segments": jwt.DecodeError,
    "malformed-four-segments": jwt.DecodeError,
    "malformed-not-base64": jwt.DecodeError,
    "tampered-payload": jwt.InvalidSignatureError,
    "alg-none-lower": jwt.InvalidAlgorithmError,
    "alg-none-title": jwt.InvalidAlgorithmError,
    "alg-none-upper": jwt.InvalidAlgorithmError,
    "alg-none-mixed": jwt.InvalidAlgorithmError,
    "empty-signature": jwt.InvalidSignatureError,
    "random-key-signature": jwt.InvalidSignatureError,
    "truncated": jwt.InvalidSignatureError,
    "truncated-segment": jwt.DecodeError,
    "expired": jwt.ExpiredSignatureError,
    "not-yet-valid": jwt.ImmatureSignatureError,
    "wrong-issuer": jwt.InvalidIssuerError,
    "alg-hs512": jwt.InvalidAlgorithmError,
}


def _mint(now: float, subject: str = "vr-client") -> str:
    claims = {"sub": subject, "iss": ISSUER, "iat": int(now), "exp": int(now) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _verify(token: str) -> dict[str, object]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER)


@pytest.fixture
def now() -> float:
    # PyJWT checks exp/nbf against the real clock, so the cases use it too.
    return time.time()


@pytest.fixture
def valid_token(now: float) -> str:
    token = _mint(now)
    _verify(token)  # the baseline must pass, or every failure below proves nothing
    return token


def _by_name(cases: list[BadAuthorization]) -> dict[str, BadAuthorization]:
    return {case.name: case for case in cases}


def test_names_are_unique_and_as_specified(valid_token: str, now: float) -> None:
    cases = bad_authorizations(valid_token, secret=SECRET, now=now, issuer=ISSUER)
    assert [c.name for c in cases] == BASE_NAMES + SECRET_NAMES
    assert [c.name for c in cases if c.needs_secret] == SECRET_NAMES
    assert all(c.description for c in cases)


def test_secret_cases_are_absent_without_a_secret(valid_token: str, now: float) -> None:
    cases = bad_authorizations(valid_token, secret=None, now=now, issuer=ISSUER)
    assert [c.name for c in cases] == BASE_NAMES
    assert not any(c.needs_secret for c in cases)


def test_output_is_deterministic(valid_token: str, now: float) -> None:
    first = bad_authorizations(valid_token, secret=SECRET, now=now, issuer=ISSUER)
    second = bad_authorizations(valid_token, secret=SECRET, now=now, issuer=ISSUER)
    assert first == second


def test_every_bearer_token_fails_verification_for_its_own_reason(
    valid_token: str, now: float
) -> None:
    cases = bad_authorizations(valid_token, secret=SECRET, now=now, issuer=ISSUER)
    bearer = [c for c in cases if c.header is not None and c.header.startswith("Bearer ")]
    assert sorted(c.name for c in bearer) == sorted(EXPECTED_ERRORS)
    for case in bearer:
        assert case.header is not None
        with pytest.raises(EXPECTED_ERRORS[case.name]):
            _verify(case.header.removeprefix("Bearer "))


def test_headerless_and_schemeless_cases(valid_token: str, now: float) -> None:
    cases = _by_name(bad_authorizations(valid_token, secret=None, now=now, issuer=ISSUER))
    assert cases["missing"].header is None
    assert cases["empty-header"].header == ""
    assert cases["scheme-only"].header == "Bearer"
    # The valid token itself, under the wrong scheme or none: the scheme is the only defect.
    assert cases["wrong-scheme-token"].header == f"Token {valid_token}"
    assert cases["wrong-scheme-basic"].header == f"Basic {valid_token}"
    assert cases["no-scheme"].header == valid_token


@pytest.mark.parametrize(
    ("name", "alg"),
    [
        ("alg-none-lower", "none"),
        ("alg-none-title", "None"),
        ("alg-none-upper", "NONE"),
        ("alg-none-mixed", "nOnE"),
    ],
)
def test_alg_none_headers_spell_alg_and_drop_the_signature(
    valid_token: str, now: float, name: str, alg: str
) -> None:
    header = _by_name(bad_authorizations(valid_token, secret=None, now=now, issuer=ISSUER))[
        name
    ].header
    assert header is not None
    token = header.removeprefix("Bearer ")
    header_segment, payload_segment, signature_segment = token.split(".")
    assert json.loads(b64url_decode(header_segment))["alg"] == alg
    assert signature_segment == ""
    assert payload_segment == valid_token.split(".")[1]


def test_claims_are_kept_apart_from_the_one_defect(valid_token: str, now: float) -> None:
    cases = _by_name(bad_authorizations(valid_token, secret=SECRET, now=now, issuer=ISSUER))

    def claims(name: str) -> dict[str, object]:
        header = cases[name].header
        assert header is not None
        return json.loads(b64url_decode(header.removeprefix("Bearer ").split(".")[1]))

    original = jwt.decode(valid_token, options={"verify_signature": False})
    assert claims("tampered-payload") == {**original, "sub": "admin"}
    assert claims("expired")["exp"] == int(now) - 60
    assert claims("not-yet-valid")["nbf"] == int(now) + 3600
    assert claims("wrong-issuer")["iss"] == ISSUER + "-evil"
    assert claims("alg-hs512") == original
    hs512 = cases["alg-hs512"].header
    assert hs512 is not None
    # Correctly signed: PyJWT accepts it once HS512 is allowed, so alg is the only defect.
    jwt.decode(hs512.removeprefix("Bearer "), SECRET, algorithms=["HS512"], issuer=ISSUER)


def test_malformed_valid_token_is_rejected_clearly() -> None:
    with pytest.raises(ValueError, match="segments"):
        bad_authorizations("not-a-jwt", secret=None, now=0.0, issuer=ISSUER)


@settings(max_examples=25, deadline=None, database=None)
@given(subject=st.text(min_size=1, max_size=40), offset=st.integers(-30, 30))
def test_any_valid_token_yields_only_refused_bearer_tokens(subject: str, offset: int) -> None:
    now = time.time()
    token = _mint(now, subject)
    cases = bad_authorizations(token, secret=SECRET, now=now + offset, issuer=ISSUER)
    for case in cases:
        if case.header is not None and case.header.startswith("Bearer "):
            with pytest.raises(jwt.PyJWTError):
                _verify(case.header.removeprefix("Bearer "))
