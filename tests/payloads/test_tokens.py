"""Every bad Authorization value is refused by a correct HS256 verifier.

PyJWT plays the careful server here: a Bearer token from the list must fail
``jwt.decode`` with the contract's settings, and with the exception that
names the one defect the case was built to carry. The non-Bearer cases carry
the *valid* token on purpose, so the scheme is their only defect.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.payloads.tokens import (
    CLAIM_VARIANTS,
    BadAuthorization,
    b64url_decode,
    bad_authorizations,
    claim_skips,
    forged_valid,
)

SECRET = "spacetime-test-secret-" + "0123456789abcdef" * 4
ISSUER = "spacetime-httpapi"
AUDIENCE = "vr-clients"
LIFETIME_S = 7200.0

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
    "wrong-audience": jwt.InvalidAudienceError,
    "alg-hs512": jwt.InvalidAlgorithmError,
}


def _mint(now: float, subject: str = "vr-client") -> str:
    claims = {"sub": subject, "iss": ISSUER, "iat": int(now), "exp": int(now) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def _verify(
    token: str, *, issuer: str | None = ISSUER, audience: str | None = None
) -> dict[str, object]:
    """The careful server: HS256 pinned, and each stated claim rule required."""
    required = [name for name, value in (("iss", issuer), ("aud", audience)) if value]
    return jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        issuer=issuer,
        audience=audience,
        options={"require": required},
    )


def _claims(case: BadAuthorization) -> dict[str, object]:
    assert case.header is not None
    return json.loads(b64url_decode(case.header.removeprefix("Bearer ").split(".")[1]))


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
    cases = bad_authorizations(
        valid_token, secret=SECRET, now=now, issuer=ISSUER, audience=AUDIENCE
    )
    bearer = [c for c in cases if c.header is not None and c.header.startswith("Bearer ")]
    assert sorted(c.name for c in bearer) == sorted(EXPECTED_ERRORS)
    for case in bearer:
        assert case.header is not None
        with pytest.raises(EXPECTED_ERRORS[case.name]):
            _verify(case.header.removeprefix("Bearer "), audience=AUDIENCE)


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


# Claim rules: built only where stated -----------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """Claim rules as a profile's `auth` section states them."""

    issuer: str | None = None
    audience: str | None = None
    max_lifetime_s: float | None = None

    def build(self, token: str, now: float, secret: str | None = SECRET) -> list[BadAuthorization]:
        return bad_authorizations(
            token, secret=secret, now=now, issuer=self.issuer, audience=self.audience,
            max_lifetime_s=self.max_lifetime_s,
        )  # fmt: skip


ALL_RULES = Rules(ISSUER, AUDIENCE, LIFETIME_S)


def _int(claims: dict[str, object], name: str) -> int:
    value = claims[name]
    assert isinstance(value, int), (name, value)
    return value


@pytest.mark.parametrize(
    ("rules", "claim_names"),
    [
        (Rules(), []),
        (Rules(issuer=ISSUER), ["wrong-issuer"]),
        (Rules(audience=AUDIENCE), ["wrong-audience"]),
        (Rules(max_lifetime_s=LIFETIME_S), ["over-lifetime"]),
        (ALL_RULES, ["wrong-issuer", "wrong-audience", "over-lifetime"]),
    ],
    ids=["none", "issuer", "audience", "max_lifetime_s", "all"],
)
def test_claim_cases_exist_exactly_when_stated(
    valid_token: str, now: float, rules: Rules, claim_names: list[str]
) -> None:
    names = [c.name for c in rules.build(valid_token, now)]
    assert names == [*BASE_NAMES, "expired", "not-yet-valid", *claim_names, "alg-hs512"]
    assert set(claim_names) <= set(CLAIM_VARIANTS)
    # Without the secret none can be signed, stated or not.
    assert [c.name for c in rules.build(valid_token, now, secret=None)] == BASE_NAMES


def test_unstated_claims_are_left_as_the_valid_token_has_them(now: float) -> None:
    """A token without iss (a server that does not use it) gets none added to the forged ones."""
    token = jwt.encode({"sub": "x", "iat": int(now), "exp": int(now) + 3600}, SECRET)
    cases = _by_name(Rules().build(token, now))
    for name in ("expired", "not-yet-valid", "alg-hs512"):
        assert "iss" not in _claims(cases[name]) and "aud" not in _claims(cases[name])
    assert _claims(cases["alg-hs512"]) == jwt.decode(token, options={"verify_signature": False})


def test_every_signed_case_carries_the_stated_claims_and_one_defect(
    valid_token: str, now: float
) -> None:
    """With every rule stated, each correctly signed case breaks exactly one of them."""
    cases = _by_name(ALL_RULES.build(valid_token, now))
    signed = {name: _claims(case) for name, case in cases.items() if case.needs_secret}
    assert list(signed) == ["expired", "not-yet-valid", "wrong-issuer", "wrong-audience",
                            "over-lifetime", "alg-hs512"]  # fmt: skip

    def broken(claims: dict[str, object]) -> set[str]:
        exp, iat = _int(claims, "exp"), _int(claims, "iat")
        rules = {
            "iss": claims.get("iss") == ISSUER,
            "aud": claims.get("aud") == AUDIENCE,
            "exp": exp > now,
            "nbf": "nbf" not in claims or _int(claims, "nbf") <= now,
            "lifetime": exp - iat <= LIFETIME_S,
        }
        return {rule for rule, holds in rules.items() if not holds}

    assert {name: broken(claims) for name, claims in signed.items()} == {
        "expired": {"exp"},
        "not-yet-valid": {"nbf"},
        "wrong-issuer": {"iss"},
        "wrong-audience": {"aud"},
        "over-lifetime": {"lifetime"},
        "alg-hs512": set(),  # its one defect is the header's alg
    }
    # Unexpired with an hour to spare, and an hour over the limit, not a rounding error.
    over = signed["over-lifetime"]
    assert _int(over, "exp") - now >= 3600
    assert _int(over, "exp") - _int(over, "iat") >= LIFETIME_S + 3600


@pytest.mark.parametrize("lifetime", [60.0, 600.5, 7200.0, 86400.0])
def test_not_yet_valid_keeps_within_a_stated_lifetime(now: float, lifetime: float) -> None:
    """nbf lies ahead by half the lifetime (at most an hour), and exp - iat stays within it.

    The valid token was issued ten minutes ago: its own iat would put the
    case over a short lifetime, a second defect.
    """
    cases = _by_name(Rules(max_lifetime_s=lifetime).build(_mint(now - 600), now))
    claims = _claims(cases["not-yet-valid"])
    exp, iat, nbf = _int(claims, "exp"), _int(claims, "iat"), _int(claims, "nbf")
    assert iat <= now < nbf < exp and exp - iat <= lifetime
    assert nbf - int(now) == min(3600, int(lifetime) // 2)
    over = _claims(cases["over-lifetime"])
    assert _int(over, "exp") - _int(over, "iat") > lifetime


@pytest.mark.parametrize(
    ("name", "accepted_under"),
    [("wrong-issuer", {"issuer": ISSUER + "-evil"}),
     ("wrong-audience", {"audience": AUDIENCE + "-evil"})],
)  # fmt: skip
def test_wrong_issuer_and_audience_are_right_in_every_other_respect(
    valid_token: str, now: float, name: str, accepted_under: dict[str, str]
) -> None:
    """A verifier expecting the forged value accepts the token: the value is the one defect."""
    header = _by_name(Rules(ISSUER, AUDIENCE).build(valid_token, now))[name].header
    assert header is not None
    token = header.removeprefix("Bearer ")
    with pytest.raises((jwt.InvalidIssuerError, jwt.InvalidAudienceError)):
        _verify(token, issuer=ISSUER, audience=AUDIENCE)
    expected = {"issuer": ISSUER, "audience": AUDIENCE, **accepted_under}
    _verify(token, issuer=expected["issuer"], audience=expected["audience"])


def test_forged_valid_token_passes_a_careful_verifier(valid_token: str) -> None:
    token = forged_valid(valid_token, secret=SECRET, issuer=ISSUER, audience=AUDIENCE)
    claims = _verify(token, audience=AUDIENCE)
    original = jwt.decode(valid_token, options={"verify_signature": False})
    assert claims == {**original, "aud": AUDIENCE}
    # Nothing stated: the valid token's own claims, re-signed.
    assert jwt.decode(forged_valid(valid_token, secret=SECRET), SECRET, algorithms=["HS256"],
                      issuer=ISSUER) == original  # fmt: skip
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged_valid(valid_token, secret=SECRET + "x"), SECRET, algorithms=["HS256"])


def test_claim_skips_name_the_unstated_rule_or_the_missing_secret() -> None:
    none = claim_skips(issuer=None, audience=None, max_lifetime_s=None, secret_known=True)
    assert none == {
        "wrong-issuer": "the profile states no auth.issuer; the contract sets no issuer rule",
        "wrong-audience": "the profile states no auth.audience; the contract sets no audience rule",
        "over-lifetime": "the profile states no auth.max_lifetime_s; "
        "the contract sets no maximum-lifetime rule",
    }
    everything = claim_skips(
        issuer=ISSUER, audience=AUDIENCE, max_lifetime_s=LIFETIME_S, secret_known=True
    )
    assert everything == {}
    no_secret = claim_skips(issuer=ISSUER, audience=None, max_lifetime_s=None, secret_known=False)
    assert no_secret == {
        "wrong-issuer": "auth.issuer is stated, but wrong-issuer needs the signing secret "
        "(--st-secret-file)",
        "wrong-audience": none["wrong-audience"],
        "over-lifetime": none["over-lifetime"],
    }
