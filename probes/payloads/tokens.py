"""Bad ``Authorization`` header values, each one a way a token can fail.

The contract says every protected endpoint answers 401 to a missing header,
a scheme other than Bearer, or a token that fails verification (bad or empty
signature, ``alg`` other than HS256 including ``none``, malformed segments,
``exp`` past, ``nbf`` future). Each case here isolates one of those defects
and keeps everything else from the valid token, so a 2xx names exactly the
check the server skipped.

The contract sets no issuer, audience or maximum-lifetime rule, so those
cases (``wrong-issuer``, ``wrong-audience``, ``over-lifetime``) are built only
for a rule the caller states (the target profile's ``auth`` section); every
other correctly signed case then carries the stated ``iss`` and ``aud``, and
keeps within the stated lifetime, so its own defect stays the only one.

Everything is derived from the inputs alone: no clock (``now`` is passed
in), no randomness (the "random" key comes from a hash of the valid token),
so the same inputs always give the same list and a failing case can be
replayed. Signing uses :mod:`hmac` directly rather than PyJWT, because the
point is to build tokens a careful library would refuse to build.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_HASHES: dict[str, Callable[..., Any]] = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}

#: The claim-rule cases, the :func:`bad_authorizations` keyword (named as the
#: profile's ``auth`` field) that enables each, and the rule as reasons name it.
CLAIM_VARIANTS: dict[str, tuple[str, str]] = {
    "wrong-issuer": ("issuer", "issuer"),
    "wrong-audience": ("audience", "audience"),
    "over-lifetime": ("max_lifetime_s", "maximum-lifetime"),
}


@dataclass(frozen=True)
class BadAuthorization:
    """One bad ``Authorization`` header and why it must be refused.

    ``header`` is ``None`` when the request must carry no ``Authorization``
    header at all; ``needs_secret`` marks cases that could only be built
    because the signing secret was known (correctly signed, wrong claims).
    """

    name: str
    header: str | None
    needs_secret: bool
    description: str


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as JWT segments are written (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Inverse of :func:`b64url_encode`; restores the padding JWT strips."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _encode_json(obj: dict[str, Any]) -> str:
    """Compact JSON, key order kept, so rebuilt segments stay deterministic."""
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def _sign(signing_input: str, key: bytes, alg: str = "HS256") -> str:
    """The HMAC signature segment for ``header.payload``."""
    digest = hmac.new(key, signing_input.encode("ascii"), _HASHES[alg]).digest()
    return b64url_encode(digest)


def _split(token: str) -> tuple[str, str, str, dict[str, Any], dict[str, Any]]:
    """Split a compact JWT and decode its header and claims without verifying.

    The claims are copied into every rebuilt token, so each case differs from
    the valid token in one respect only.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"valid_token is not a compact JWT: {len(parts)} segments, expected 3")
    header_segment, payload_segment, signature_segment = parts
    try:
        header = json.loads(b64url_decode(header_segment))
        claims = json.loads(b64url_decode(payload_segment))
    except ValueError as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise ValueError(f"valid_token has an undecodable segment: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("valid_token header and payload must be JSON objects")
    return header_segment, payload_segment, signature_segment, header, claims


def _signed(header: dict[str, Any], claims: dict[str, Any], key: bytes, alg: str) -> str:
    """A compact JWT with ``alg`` set in the header and signed with ``key``."""
    signing_input = _encode_json({**header, "alg": alg}) + "." + _encode_json(claims)
    return signing_input + "." + _sign(signing_input, key, alg)


def bad_authorizations(
    valid_token: str,
    *,
    secret: str | None,
    now: float,
    issuer: str | None = None,
    audience: str | None = None,
    max_lifetime_s: float | None = None,
) -> list[BadAuthorization]:
    """Every bad ``Authorization`` value the auth probes send, in report order.

    ``valid_token`` is a token the target accepts (read from its token file);
    ``secret`` is its HS256 key when the profile knows it, which unlocks the
    correctly signed cases (expired, not yet valid, HS512, and the claim
    rules); ``now`` is the caller's clock in epoch seconds. ``issuer``,
    ``audience`` and ``max_lifetime_s`` are the claim rules the target states
    (``None``: not stated); each stated one adds its case, and the others
    keep the valid token's own ``iss`` and ``aud``, whatever they are.
    """
    token = valid_token.strip()
    header_segment, payload_segment, signature_segment, header, claims = _split(token)
    signing_input = f"{header_segment}.{payload_segment}"

    tampered_claims = {**claims, "sub": "root" if claims.get("sub") == "admin" else "admin"}
    random_key = hashlib.sha256(b"spacetime-probes/random-key/" + token.encode("utf-8")).digest()
    # The longest multiple of 4 shorter than the signature decodes cleanly, so
    # the cut is caught by the comparison rather than by a base64 error.
    short_signature = max(0, (len(signature_segment) - 1) // 4 * 4)
    half_payload = len(header_segment) + 1 + max(1, len(payload_segment) // 2)
    not_base64 = (
        payload_segment[: len(payload_segment) // 2]
        + "!*$~"
        + payload_segment[len(payload_segment) // 2 :]
    )

    def bearer(name: str, value: str, description: str) -> BadAuthorization:
        return BadAuthorization(name, f"Bearer {value}", False, description)

    cases = [
        BadAuthorization("missing", None, False, "no Authorization header at all"),
        BadAuthorization("empty-header", "", False, "Authorization header present but empty"),
        BadAuthorization("scheme-only", "Bearer", False, "Bearer scheme with no token"),
        BadAuthorization(
            "wrong-scheme-token",
            f"Token {token}",
            False,
            "the valid token under the 'Token' scheme: only Bearer is accepted",
        ),
        BadAuthorization(
            "wrong-scheme-basic",
            f"Basic {token}",
            False,
            "the valid token under the Basic scheme: a server that ignores the scheme accepts it",
        ),
        BadAuthorization(
            "no-scheme",
            token,
            False,
            "the valid token with no scheme: a server that strips 'Bearer ' optionally accepts it",
        ),
        bearer(
            "malformed-two-segments",
            signing_input,
            "header.payload with the signature segment dropped",
        ),
        bearer(
            "malformed-four-segments",
            f"{token}.{payload_segment}",
            "the valid token plus a fourth segment: a parser that reads only three accepts it",
        ),
        bearer(
            "malformed-not-base64",
            f"{header_segment}.{not_base64}.{signature_segment}",
            "payload segment holds characters outside the base64url alphabet",
        ),
        bearer(
            "tampered-payload",
            f"{header_segment}.{_encode_json(tampered_claims)}.{signature_segment}",
            "sub changed after signing; header and signature kept",
        ),
    ]
    for suffix, alg in (("lower", "none"), ("title", "None"), ("upper", "NONE"), ("mixed", "nOnE")):
        cases.append(
            bearer(
                f"alg-none-{suffix}",
                f"{_encode_json({**header, 'alg': alg})}.{payload_segment}.",
                f"unsigned token, header alg {alg!r}, empty signature",
            )
        )
    cases += [
        bearer("empty-signature", f"{signing_input}.", "valid header and payload, empty signature"),
        bearer(
            "random-key-signature",
            f"{signing_input}.{_sign(signing_input, random_key)}",
            "valid header and payload signed HS256 with a key other than the server's",
        ),
        bearer(
            "truncated",
            f"{signing_input}.{signature_segment[:short_signature]}",
            "signature cut short but still valid base64url: only a full-length compare rejects it",
        ),
        bearer(
            "truncated-segment",
            token[:half_payload],
            "whole token cut in the middle of the payload segment",
        ),
    ]
    if secret is None:
        return cases

    key = secret.encode("utf-8")
    stamp = int(now)
    base = _stated(claims, issuer, audience)
    if max_lifetime_s is None:
        not_before = stamp + 3600
        not_yet_valid = {
            **base,
            "nbf": not_before,
            "exp": max(int(base.get("exp", 0)), not_before + 3600),
        }
        not_yet_why = "correctly signed, nbf one hour in the future"
    else:
        # Within the stated lifetime (issued now), so nbf stays the only defect.
        lifetime = int(max_lifetime_s)
        ahead = min(3600, lifetime // 2)
        not_yet_valid = {
            **base,
            "iat": stamp,
            "nbf": stamp + ahead,
            "exp": stamp + min(lifetime, ahead + 3600),
        }
        not_yet_why = f"correctly signed, nbf {ahead} s in the future, within the stated lifetime"
    signed_cases = [
        ("expired", {**base, "exp": stamp - 60}, "HS256", "correctly signed, exp 60 s in the past"),
        ("not-yet-valid", not_yet_valid, "HS256", not_yet_why),
    ]
    if issuer is not None:
        signed_cases.append(
            (
                "wrong-issuer",
                {**base, "iss": issuer + "-evil"},
                "HS256",
                "correctly signed, iss is not the stated issuer",
            )
        )
    if audience is not None:
        signed_cases.append(
            (
                "wrong-audience",
                {**base, "aud": audience + "-evil"},
                "HS256",
                "correctly signed, aud is not the stated audience",
            )
        )
    if max_lifetime_s is not None:
        # An hour past the stated lifetime, and an hour of it still to run.
        signed_cases.append(
            (
                "over-lifetime",
                {**base, "iat": stamp, "exp": stamp + math.ceil(max_lifetime_s) + 3600},
                "HS256",
                "correctly signed and unexpired, exp - iat an hour over the stated lifetime",
            )
        )
    signed_cases.append(
        ("alg-hs512", base, "HS512", "correctly signed with HS512; only HS256 is allowed")
    )
    for name, signed_claims, alg, description in signed_cases:
        token_text = _signed(header, signed_claims, key, alg)
        cases.append(BadAuthorization(name, f"Bearer {token_text}", True, description))
    return cases


def claim_skips(
    *,
    issuer: str | None,
    audience: str | None,
    max_lifetime_s: float | None,
    secret_known: bool,
) -> dict[str, str]:
    """The claim-rule cases a run cannot send, each with the reason it shows as skipped.

    Never dropped silently: a report without ``wrong-issuer`` would not say
    whether the issuer was checked and passed or never checked at all.
    """
    stated = {"issuer": issuer, "audience": audience, "max_lifetime_s": max_lifetime_s}
    skips = {}
    for variant, (field, rule) in CLAIM_VARIANTS.items():
        if stated[field] is None:
            skips[variant] = f"the profile states no auth.{field}; the contract sets no {rule} rule"
        elif not secret_known:
            skips[variant] = (
                f"auth.{field} is stated, but {variant} needs the signing secret (--st-secret-file)"
            )
    return skips


def _stated(claims: dict[str, Any], issuer: str | None, audience: str | None) -> dict[str, Any]:
    """The valid token's claims with the stated ``iss`` and ``aud``; unstated ones untouched."""
    stated = {"iss": issuer, "aud": audience}
    return {**claims, **{name: value for name, value in stated.items() if value is not None}}


def forged_valid(
    valid_token: str, *, secret: str, issuer: str | None = None, audience: str | None = None
) -> str:
    """The valid token's claims with the stated ``iss`` and ``aud``, re-signed HS256.

    The control for every correctly signed case: if the target refuses this
    one, its 401s to the others may be for a reason the case did not carry
    (a wrong secret, or a stated issuer the target does not use).
    """
    _, _, _, header, claims = _split(valid_token.strip())
    return _signed(header, _stated(claims, issuer, audience), secret.encode("utf-8"), "HS256")
