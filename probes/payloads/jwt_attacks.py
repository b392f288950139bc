"""Tokens that test the verifier itself: keys, algorithms, claim types, encoding, transport.

:mod:`probes.payloads.tokens` tests the route guard (every bad token on
every route); these cases test what the verifier believes, so one protected
route is enough. Each is an attack class from jwt_tool's playbook, the
PortSwigger JWT labs and RFC 8725, and each isolates one defect on top of
the valid token's claims (with the profile's stated ``iss``/``aud``):

- the token supplies its own key: an embedded ``jwk`` (an ``oct`` key for
  HS256, an RSA key for RS256), a ``jku``/``x5u`` key URL, a ``kid`` that is
  a path (``/dev/null``: the empty key) or SQL (``UNION SELECT 'key'``).
  Contract: key material or locations in the token never choose the key;
- the algorithm is confused: HS384 correctly signed, RS256/ES256 headers
  over an HMAC keyed with the secret "as if it were the public key", and
  ``alg`` missing, null, an array, lower case, with a trailing space;
- the key is empty or a well-known weak one;
- a NumericDate is a string, a boolean, too large for a double, or missing,
  or ``crit`` names an extension no verifier understands (RFC 7515 4.1.11);
- the encoding is not the compact serialization: padding, the standard
  base64 alphabet, the JWS JSON serialization, five segments;
- the credential travels outside the ``Authorization`` header (query,
  cookie), in two headers, or is far too long.

Everything is derived from the inputs: ``now`` is passed in, the attacker's
HMAC keys come from a hash of the valid token, and the attacker's RSA key is
an argument (the one input a caller generates, see :func:`attacker_rsa_key`).
A case that cannot be built from what the caller knows is not dropped: it is
in :attr:`Attacks.skipped` with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from probes.payloads.tokens import _encode_json, _split, _stated, b64url_encode

#: Keys jwt_tool's and hashcat's JWT word lists open with (jwt.io's sample is the 4th).
WEAK_KEYS = ("secret", "password", "changeme", "your-256-bit-secret", "123456", "jwt-secret")
#: A key URL nothing listens on: the attack needs only that the verifier would fetch it.
UNREACHABLE = "http://127.0.0.1:1"
KID_PATH = "../" * 10 + "dev/null"
KID_SQL = "x' UNION SELECT 'key'--"
TOKEN_NAMES = ("access_token", "token", "jwt")  # where frameworks look besides the header
LONG_TOKEN_KIB = (8, 16, 64)
#: A NumericDate beyond a double: JSON allows it, Python reads it as inf.
OVERFLOW = "1e400"
UNKNOWN_EXTENSION = "x-spacetime-unknown"
TRANSPORT_JTI = "spacetime-probes/elsewhere"  # marks the token sent in a query or cookie

ONLY_401 = frozenset({401})
#: Duplicate credentials: RFC 6750 3.1 calls them invalid_request (400); 401 is fine too.
DUPLICATE_STATUSES = frozenset({400, 401})
#: An oversized header may be refused before auth: 431 (RFC 6585) or 400 (nginx, h11).
LONG_STATUSES = frozenset({400, 401, 431})

_SECRET_REASON = "needs the signing secret (--st-secret-file): it is signed with the secret"
_DIGESTS: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


@dataclass(frozen=True)
class Attack:
    """One request that must not authenticate, and the statuses that refuse it.

    ``authorization`` holds one value per ``Authorization`` header sent (empty:
    none); ``query`` and ``cookie`` carry a token elsewhere. ``statuses`` is
    usually just 401; the duplicate and oversized cases may be refused
    before auth (400, 431). ``needs_secret``: built with the signing secret.
    """

    name: str
    description: str
    needs_secret: bool
    authorization: tuple[str, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    cookie: str | None = None
    statuses: frozenset[int] = ONLY_401


@dataclass(frozen=True)
class Attacks:
    """The cases a run sends, in report order, and the ones it cannot build, with reasons."""

    cases: tuple[Attack, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    def by_name(self) -> dict[str, Attack]:
        return {case.name: case for case in self.cases}


def attacker_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key for the ``jwk``/``jku``/``x5u`` cases (the attacker's own)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _int_segment(value: int) -> str:
    return b64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _hs(header_segment: str, payload_segment: str, key: bytes, alg: str = "HS256") -> str:
    signing_input = f"{header_segment}.{payload_segment}"
    digest = hmac.new(key, signing_input.encode("ascii"), _DIGESTS[alg]).digest()
    return f"{signing_input}.{b64url_encode(digest)}"


def _rs256(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{_encode_json(header)}.{_encode_json(claims)}"
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url_encode(signature)}"


def _raw_payload(claims: dict[str, Any], name: str, raw: str) -> str:
    """The claims with ``name`` set to the literal JSON text ``raw`` (e.g. 1e400)."""
    rest = json.dumps({k: v for k, v in claims.items() if k != name}, separators=(",", ":"))
    text = rest[:-1] + ("," if len(rest) > 2 else "") + f'"{name}":{raw}}}'
    return b64url_encode(text.encode("utf-8"))


def _standard_alphabet(token: str) -> str | None:
    """The token with its signature in the standard base64 alphabet; None if that is no change.

    Only the signature segment is changed: it is not part of the signing
    input, so a verifier that decodes either alphabet still finds it valid.
    """
    head, _, signature = token.rpartition(".")
    changed = signature.replace("-", "+").replace("_", "/")
    return None if changed == signature else f"{head}.{changed}"


def verifier_attacks(
    valid_token: str,
    *,
    secret: str | None,
    now: float,
    rsa_key: rsa.RSAPrivateKey,
    issuer: str | None = None,
    audience: str | None = None,
    max_lifetime_s: float | None = None,
) -> Attacks:
    """Every verifier attack for one run: the cases to send and the skipped ones with reasons.

    ``valid_token`` is the target's token; ``secret`` its HS256 key if the
    profile knows it; ``now`` the caller's clock; ``rsa_key`` the attacker's
    RSA key; ``issuer``/``audience``/``max_lifetime_s`` the profile's claim
    rules. The real token is sent only in the ``Authorization`` header; the
    cases that put a valid token in a URL or cookie use one forged with the
    secret, so the target's own token never lands in a URL or a log.
    """
    token = valid_token.strip()
    header_segment, payload_segment, signature_segment, header, claims = _split(token)
    base = _stated(claims, issuer, audience)
    base_segment = _encode_json(base)
    seed = b"spacetime-probes/attacker-key/" + token.encode("utf-8")
    attacker_key = hashlib.sha256(seed).digest()
    cases: list[Attack] = []
    skipped: dict[str, str] = {}

    def bearer(name: str, value: str, description: str, *, needs_secret: bool = False) -> None:
        cases.append(Attack(name, description, needs_secret, (f"Bearer {value}",)))

    def hs(extra: dict[str, Any], key: bytes, *, drop: tuple[str, ...] = ()) -> str:
        fields = {k: v for k, v in {**header, **extra}.items() if k not in drop}
        return _hs(_encode_json(fields), base_segment, key)

    # 1. Keys the token supplies itself.
    oct_jwk = {"kty": "oct", "k": b64url_encode(attacker_key)}
    bearer(
        "jwk-embedded-oct",
        hs({"alg": "HS256", "jwk": oct_jwk}, attacker_key),
        "HS256 signed with the attacker's key, sent along as an oct jwk header",
    )
    public = rsa_key.public_key().public_numbers()
    rsa_jwk = {"kty": "RSA", "n": _int_segment(public.n), "e": _int_segment(public.e)}
    rsa_header = {k: v for k, v in header.items() if k != "kid"}
    bearer(
        "jwk-embedded-rsa",
        _rs256({**rsa_header, "alg": "RS256", "jwk": rsa_jwk}, base, rsa_key),
        "RS256 signed with the attacker's RSA key, its public half in a jwk header",
    )
    for param, path in (("jku", "/jwks.json"), ("x5u", "/cert.pem")):
        fields = {**rsa_header, "alg": "RS256", "kid": "attacker", param: UNREACHABLE + path}
        bearer(
            f"{param}-attacker-url",
            _rs256(fields, base, rsa_key),
            f"RS256 signed with the attacker's key, {param} naming the attacker's key URL",
        )
    bearer(
        "kid-path-dev-null",
        hs({"kid": KID_PATH}, b""),
        "kid is a path to /dev/null, signed with the empty key a file lookup would read",
    )
    bearer(
        "kid-sql-union",
        hs({"kid": KID_SQL}, b"key"),
        "kid is SQL selecting the key 'key', signed with 'key'",
    )

    # 3. Empty and weak HMAC keys (no secret needed: a strong secret refuses them all).
    bearer("empty-key", hs({}, b""), "HS256 signed with the empty key")
    for weak in WEAK_KEYS:
        bearer(
            f"weak-key-{weak}", hs({}, weak.encode()), f"HS256 signed with the weak key {weak!r}"
        )

    # 5. Encoding strictness (the valid token's own segments: no secret needed).
    missing_padding = -len(signature_segment) % 4
    if missing_padding:
        bearer(
            "b64-padded-signature",
            f"{token}{'=' * missing_padding}",
            "the valid token with '=' padding on its signature (RFC 7515: no padding)",
        )
    else:
        skipped["b64-padded-signature"] = "the valid token's signature needs no padding"
    bearer(
        "jws-json-serialization",
        json.dumps(
            {
                "protected": header_segment,
                "payload": payload_segment,
                "signature": signature_segment,
            },
            separators=(",", ":"),
        ),
        "the valid token in the JWS JSON serialization, not the compact one",
    )
    bearer(
        "malformed-five-segments",
        f"{token}.{payload_segment}.{signature_segment}",
        "the valid token plus two segments (JWE-shaped): a parser reading three accepts it",
    )
    standard = _standard_alphabet(token)

    # 6. Where the credential travels (those with the real token: headers only).
    random_key = hashlib.sha256(b"spacetime-probes/other-key/" + token.encode("utf-8")).digest()
    bad = f"Bearer {hs({}, random_key)}"
    for order, values in (
        ("valid-first", (f"Bearer {token}", bad)),
        ("bad-first", (bad, f"Bearer {token}")),
    ):
        cases.append(
            Attack(
                f"duplicate-header-{order}",
                f"two Authorization headers, the valid token's {order.split('-')[0]}",
                False,
                values,
                statuses=DUPLICATE_STATUSES,
            )
        )
    for kib in LONG_TOKEN_KIB:
        filler = max(0, (kib * 1024 - len(token)) * 3 // 4)
        long_segment = _encode_json({**base, "pad": "x" * filler})
        long_token = _hs(_encode_json(header), long_segment, random_key)
        cases.append(
            Attack(
                f"long-token-{kib}k",
                f"a {len(long_token) // 1024} KiB token, signed with a wrong key",
                False,
                (f"Bearer {long_token}",),
                statuses=LONG_STATUSES,
            )
        )

    secret_names = [
        "alg-hs384",
        "alg-rs256-hmac",
        "alg-es256-hmac",
        "alg-missing",
        "alg-null",
        "alg-array",
        "alg-lowercase",
        "alg-trailing-space",
        "exp-string",
        "exp-boolean",
        "exp-overflow",
        "nbf-string",
        "nbf-boolean",
        "nbf-huge",
        "nbf-overflow",
        "exp-missing",
        "crit-unknown",
        *(f"query-{name}" for name in TOKEN_NAMES),
        *(f"cookie-{name}" for name in TOKEN_NAMES),
    ]
    if max_lifetime_s is None:
        skipped["exp-missing"] = (
            "the contract does not require exp, and the profile states no "
            "auth.max_lifetime_s (under which a token without exp has no lifetime)"
        )
    if secret is None:
        if standard is None:
            skipped["b64-standard-alphabet"] = (
                "the valid token's signature has no '-' or '_' to write as '+' or '/', "
                "and a token with one needs the signing secret (--st-secret-file)"
            )
        else:
            bearer(
                "b64-standard-alphabet",
                standard,
                "the valid token with its signature in the standard base64 alphabet (+/)",
            )
        for name in secret_names:
            skipped.setdefault(name, _SECRET_REASON)
        return Attacks(tuple(cases), skipped)

    key = secret.encode("utf-8")

    def signed(name: str, token_text: str, description: str) -> None:
        bearer(name, token_text, description, needs_secret=True)

    def with_claims(payload: str) -> str:
        return _hs(_encode_json({**header, "alg": "HS256"}), payload, key)

    # 5b. The standard alphabet needs a signature with '-' or '_': vary jti until one has.
    from_real = standard is not None
    if standard is None:
        for attempt in range(64):
            forged = _hs(_encode_json(header), _encode_json({**base, "jti": f"st-{attempt}"}), key)
            standard = _standard_alphabet(forged)
            if standard is not None:
                break
    if standard is not None:
        bearer(
            "b64-standard-alphabet",
            standard,
            "a valid token with its signature in the standard base64 alphabet (+/)",
            needs_secret=not from_real,
        )

    # 2. Algorithm confusion, each signed with the secret so the alg is the only defect.
    signed(
        "alg-hs384",
        _hs(_encode_json({**header, "alg": "HS384"}), base_segment, key, "HS384"),
        "correctly signed with HS384; only HS256 is allowed",
    )
    for alg in ("RS256", "ES256"):
        signed(
            f"alg-{alg.lower()}-hmac",
            hs({"alg": alg}, key),
            f"header alg {alg}, HMAC-SHA256 over the secret as if it were the public key",
        )
    signed("alg-missing", hs({}, key, drop=("alg",)), "HMAC-SHA256 with the secret, no alg header")
    for name, value, shown in (
        ("alg-null", None, "null"),
        ("alg-array", ["HS256"], '["HS256"]'),
        ("alg-lowercase", "hs256", '"hs256"'),
        ("alg-trailing-space", "HS256 ", '"HS256 "'),
    ):
        signed(name, hs({"alg": value}, key), f"HMAC-SHA256 with the secret, header alg {shown}")

    # 4. Claim types. Each keeps the other times valid, so the type is the defect.
    stamp = int(now)
    exp = base.get("exp")
    future = exp if isinstance(exp, int) and not isinstance(exp, bool) else stamp + 3600
    timed = {**base, "exp": future}
    claim_cases: list[tuple[str, dict[str, Any] | str, str]] = [
        ("exp-string", {**base, "exp": str(future)}, "exp a string of a future time"),
        ("exp-boolean", {**base, "exp": True}, "exp the boolean true (int(true) is 1970)"),
        ("exp-overflow", _raw_payload(base, "exp", OVERFLOW), f"exp {OVERFLOW}, beyond a double"),
        ("nbf-string", {**timed, "nbf": str(stamp - 60)}, "nbf a string of a past time"),
        ("nbf-boolean", {**timed, "nbf": False}, "nbf the boolean false (int(false) is 0)"),
        ("nbf-huge", {**timed, "nbf": 10**20}, "nbf 1e20 as an integer: never valid"),
        ("nbf-overflow", _raw_payload(timed, "nbf", OVERFLOW), f"nbf {OVERFLOW}: never valid"),
    ]
    if max_lifetime_s is not None:
        claim_cases.append(
            (
                "exp-missing",
                {k: v for k, v in base.items() if k != "exp"},
                "no exp: under the stated maximum lifetime a token must show its lifetime",
            )
        )
    for name, payload, description in claim_cases:
        segment = payload if isinstance(payload, str) else _encode_json(payload)
        signed(name, with_claims(segment), f"correctly signed, {description}")
    crit = {**header, "alg": "HS256", "crit": [UNKNOWN_EXTENSION], UNKNOWN_EXTENSION: True}
    signed(
        "crit-unknown",
        _hs(_encode_json(crit), base_segment, key),
        f"correctly signed, crit names the unknown extension {UNKNOWN_EXTENSION}",
    )

    # 6b. A valid token outside the header: forged, with a jti of its own, because
    # re-signing the valid token's own claims would give back the very same token.
    forged = _hs(_encode_json(header), _encode_json({**base, "jti": TRANSPORT_JTI}), key)
    for name in TOKEN_NAMES:
        cases.append(
            Attack(
                f"query-{name}",
                f"a valid token as ?{name}=, no Authorization header",
                True,
                query=((name, forged),),
            )
        )
    for name in TOKEN_NAMES:
        cases.append(
            Attack(
                f"cookie-{name}",
                f"a valid token as cookie {name}, no Authorization header",
                True,
                cookie=f"{name}={forged}",
            )
        )
    return Attacks(tuple(cases), skipped)
