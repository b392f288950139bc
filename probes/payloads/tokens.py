"""Bad ``Authorization`` header values, each one a way a token can fail.

The contract says every protected endpoint answers 401 to a missing header,
a scheme other than Bearer, or a token that fails verification (bad or empty
signature, ``alg`` other than HS256 including ``none``, malformed segments,
``exp`` past, ``nbf`` future). Each case here isolates one of those defects
and keeps everything else from the valid token, so a 2xx names exactly the
check the server skipped.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_HASHES: dict[str, Callable[..., Any]] = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}


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
    valid_token: str, *, secret: str | None, now: float, issuer: str
) -> list[BadAuthorization]:
    """Every bad ``Authorization`` value the auth probes send, in report order.

    ``valid_token`` is a token the target accepts (read from its token file);
    ``secret`` is its HS256 key when the profile knows it, which unlocks the
    correctly signed cases (expired, not yet valid, wrong issuer, HS512);
    ``now`` is the caller's clock in epoch seconds; ``issuer`` is the ``iss``
    the target expects.
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
    base = {**claims, "iss": issuer}
    not_before = stamp + 3600
    signed_cases = (
        ("expired", {**base, "exp": stamp - 60}, "HS256", "correctly signed, exp 60 s in the past"),
        (
            "not-yet-valid",
            {**base, "nbf": not_before, "exp": max(int(base.get("exp", 0)), not_before + 3600)},
            "HS256",
            "correctly signed, nbf one hour in the future",
        ),
        (
            "wrong-issuer",
            {**base, "iss": issuer + "-evil"},
            "HS256",
            "correctly signed, iss is not the expected issuer",
        ),
        ("alg-hs512", base, "HS512", "correctly signed with HS512; only HS256 is allowed"),
    )
    for name, signed_claims, alg, description in signed_cases:
        token_text = _signed(header, signed_claims, key, alg)
        cases.append(BadAuthorization(name, f"Bearer {token_text}", True, description))
    return cases
