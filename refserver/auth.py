"""HS256 bearer tokens: mint one at start, verify every protected request.

Verification is PyJWT with the algorithm pinned (``algorithms=["HS256"]``),
``exp`` and ``iss`` required, and no leeway, so every rejection the contract
lists (bad signature, other or ``none`` alg, empty or truncated signature,
malformed segments, expired, not yet valid) is PyJWT's own. The claim rules
the contract leaves to the target are configuration: an issuer (default, or
none at all with ``--no-issuer``: a legitimate server that never uses
``iss``), an audience, a maximum lifetime. Two checks are stricter than
PyJWT, which accepts '=' padding on a segment and reads exp/nbf/iat with
``int()`` (so "123", true and false pass as times): segments must be unpadded
base64url (RFC 7515 2) and NumericDates finite JSON numbers (RFC 7519 2).
Nothing in the token chooses the key (``jwk``, ``jku``, ``x5u``, ``kid``).
The auth faults are expressed as an ``AuthPolicy`` that loosens one of those
checks the way a hurried developer would, rather than as a second verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.api_jws import PyJWS

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash
SUBJECT = "spacetime-client"
LONG_TOKEN_CRASH_CHARS = 4096  # ``auth-long-token-500``: the buffer a longer token overflows


class SecretError(ValueError):
    """The secret file cannot be read or created, or holds an unusable secret."""


@dataclass(frozen=True)
class AuthPolicy:
    """Which checks run; the defaults are the contract's.

    ``check_signature=False`` still checks the claims and requires the header's
    alg to be exactly HS256 (``auth-skip-signature``). ``unsigned_alg_variants``
    accepts unsigned tokens whose alg is a case variant of ``none`` other than
    the exact lowercase one (``auth-alg-none``). ``check_times=False`` ignores
    ``exp`` and ``nbf`` (``auth-ignore-exp``). ``check_issuer``,
    ``check_audience`` and ``check_lifetime`` set to False skip a configured
    claim rule while the token still carries the claim (``auth-ignore-issuer``,
    ``auth-ignore-audience``, ``auth-ignore-lifetime``).
    """

    check_signature: bool = True
    unsigned_alg_variants: bool = False
    check_times: bool = True
    check_issuer: bool = True
    check_audience: bool = True
    check_lifetime: bool = True
    # Stricter than PyJWT (RFC 7515 2 and 7519 2): base64url without padding,
    # and exp/nbf/iat finite JSON numbers. False: PyJWT's own leniency
    # (``auth-lax-base64``) or worse (``auth-lax-claim-types``).
    strict_encoding: bool = True
    strict_claim_types: bool = True
    check_crit: bool = True  # False: crit ignored (``auth-ignore-crit``)
    # Key and alg taken from the token (each False by contract): ``auth-trust-jwk``,
    # ``auth-key-url-fail-open``, ``auth-kid-path``, ``auth-kid-sql``,
    # ``auth-alg-from-header``, ``auth-fallback-keys``.
    trust_jwk: bool = False
    key_url_fail_open: bool = False
    kid_path: bool = False
    kid_sql: bool = False
    alg_from_header: bool = False
    fallback_keys: bool = False
    # ``auth-long-token-500``: a token longer than this raises an unhandled error.
    crash_above_chars: int | None = None


def mint_token(
    secret: bytes,
    issuer: str | None,
    ttl_seconds: int,
    now: float,
    audience: str | None = None,
) -> str:
    """The token the server writes to its token file; no ``iss``/``aud`` when None."""
    issued = int(now)
    claims: dict[str, Any] = {"sub": SUBJECT}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    claims.update(iat=issued, nbf=issued, exp=issued + ttl_seconds)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _number(value: object) -> float | None:
    """A JSON number claim as a float; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class LifetimeExceeded(jwt.InvalidTokenError):
    """The token's ``exp - iat`` is longer than the server allows (or cannot be computed)."""


def check_lifetime(claims: dict[str, Any], max_lifetime_seconds: float) -> None:
    """Refuse a token that lives longer than allowed; ``iat`` and ``exp`` must be numbers.

    A token without ``iat`` cannot show its lifetime, so under a stated
    maximum it is refused rather than trusted.
    """
    issued, expires = _number(claims.get("iat")), _number(claims.get("exp"))
    if issued is None or expires is None:
        raise LifetimeExceeded("iat and exp must both be numbers to check the token lifetime")
    if expires - issued > max_lifetime_seconds:
        raise LifetimeExceeded(f"token lifetime exceeds {max_lifetime_seconds:g} s")


CONFORMING = AuthPolicy()

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_NUMERIC_DATES = ("exp", "nbf", "iat")
#: Where ``auth-kid-path`` looks for ``kid``: joined and normalised, never confined.
KID_KEY_DIR = "/srv/spacetime/keys"
#: ``auth-fallback-keys``: the unset old key of a half-done rotation, then the default.
FALLBACK_KEYS = (b"", b"secret")
_HMAC_BY_ALG: dict[str, Callable[..., Any]] = {
    "HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512,
    "RS256": hashlib.sha256, "RS384": hashlib.sha384, "RS512": hashlib.sha512,
    "ES256": hashlib.sha256, "ES384": hashlib.sha384, "ES512": hashlib.sha512,
    "PS256": hashlib.sha256,
}  # fmt: skip


class TooLong(RuntimeError):
    """``auth-long-token-500``: the fixed-size buffer a long token overflows (unhandled)."""


class _NoCritJWS(PyJWS):
    """A JWS library that predates ``crit``: unknown critical extensions pass."""

    def _validate_crit(self, headers: dict[str, Any]) -> None:
        return None


_NO_CRIT_JWS = _NoCritJWS()


def _crit_blind() -> jwt.PyJWT:
    decoder = jwt.PyJWT()
    decoder._jws = _NO_CRIT_JWS
    return decoder


_CRIT_BLIND = _crit_blind()


def _check_encoding(token: str) -> None:
    """Exactly three base64url segments, no padding, URL-safe alphabet (RFC 7515 2, 7.1)."""
    segments = token.split(".")
    if len(segments) != 3:
        raise jwt.DecodeError(f"a compact JWS has 3 segments, not {len(segments)}")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise jwt.DecodeError("segment is not unpadded base64url")


def _lax_segments(token: str) -> str:
    """``auth-lax-base64``: the hurried "normalise": standard alphabet mapped, padding dropped."""
    return ".".join(part.rstrip("=") for part in token.translate(_TO_URLSAFE).split("."))


_TO_URLSAFE = str.maketrans("+/", "-_")


def _check_claim_types(claims: dict[str, Any]) -> None:
    """exp, nbf and iat, where present, are finite JSON numbers (RFC 7519 2 NumericDate).

    PyJWT reads them with ``int()``, so "123", true and false pass as times.
    """
    for name in _NUMERIC_DATES:
        if name in claims:
            value = _number(claims[name])
            if value is None or not math.isfinite(value):
                raise jwt.DecodeError(f"{name} is not a NumericDate")


def _lax_times(token: str, checks: dict[str, Any]) -> bool:
    """``auth-lax-claim-types``: exp/nbf that ``int()`` cannot read, or booleans, are skipped.

    Also drops them from the required claims. Returns whether the lifetime
    rule can still be computed (iat and exp both finite numbers): if not, it
    is skipped too, where the conforming server refuses the token.
    """
    claims = jwt.decode(token, options={"verify_signature": False})
    for name in ("exp", "nbf"):
        value: Any = claims.get(name)
        try:
            int(value)  # what PyJWT does with it; None and objects raise TypeError
            usable = not isinstance(value, bool)
        except (ValueError, TypeError, OverflowError):
            usable = False
        if not usable:
            checks[f"verify_{name}"] = False
            checks["require"] = [claim for claim in checks["require"] if claim != name]
    numbers = [_number(claims.get(name)) for name in ("iat", "exp")]
    return all(value is not None and math.isfinite(value) for value in numbers)


def _hmac_matches(token: str, key: bytes, digest: Callable[..., Any]) -> bool:
    signing_input, _, signature = token.rpartition(".")
    try:
        sent = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(key, signing_input.encode("ascii", "replace"), digest).digest()
    return hmac.compare_digest(sent, expected)


def _kid_from_path(kid: str) -> bytes:
    """``auth-kid-path``: the key is the file ``kid`` names under the key dir."""
    try:
        return Path(os.path.normpath(os.path.join(KID_KEY_DIR, kid))).read_bytes()
    except OSError as exc:
        raise jwt.InvalidKeyError(f"no key file for kid: {exc.strerror}") from None


def _kid_from_sql(kid: str, secret: bytes) -> bytes:
    """``auth-kid-sql``: the key looked up with SQL built from ``kid`` by string formatting."""
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE TABLE keys (kid TEXT, key BLOB)")
        db.execute("INSERT INTO keys VALUES ('spacetime', ?)", (secret,))
        try:
            row = db.execute(f"SELECT key FROM keys WHERE kid = '{kid}'").fetchone()  # the fault
        except sqlite3.Error as exc:
            raise jwt.InvalidKeyError(f"key lookup failed: {exc}") from None
    if row is None:
        raise jwt.InvalidKeyError("unknown kid")
    key = row[0]
    return key if isinstance(key, bytes) else str(key).encode()


def _token_signature_ok(
    token: str, header: dict[str, Any], secret: bytes, policy: AuthPolicy
) -> bool | None:
    """The faulty key and alg choices: True/False when one of them decided, None if none applies.

    Each is a way a verifier lets the token choose its own key or algorithm,
    which the contract forbids (``jwk``, ``jku``, ``x5u``, ``kid``, ``alg``).
    """
    alg = header.get("alg")
    if policy.trust_jwk and isinstance(header.get("jwk"), dict):
        try:
            key = jwt.PyJWK(header["jwk"], algorithm=alg if isinstance(alg, str) else None)
            jwt.decode(token, key, algorithms=[str(alg)], options={"verify_exp": False,
                       "verify_nbf": False, "verify_iat": False, "verify_aud": False})  # fmt: skip
        except (jwt.PyJWTError, ValueError, TypeError):
            return False
        return True
    if policy.key_url_fail_open and ("jku" in header or "x5u" in header):
        return True  # the key fetch failed (no egress) and the except clause passed
    kid = header.get("kid")
    if policy.kid_path and isinstance(kid, str):
        return _hmac_matches(token, _kid_from_path(kid), hashlib.sha256)
    if policy.kid_sql and isinstance(kid, str):
        return _hmac_matches(token, _kid_from_sql(kid, secret), hashlib.sha256)
    if policy.alg_from_header:
        name = alg.strip().upper() if isinstance(alg, str) else ALGORITHM
        digest = _HMAC_BY_ALG.get(name)
        if digest is None:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        return _hmac_matches(token, secret, digest)
    tried = policy.fallback_keys and alg == ALGORITHM
    if tried and not _hmac_matches(token, secret, hashlib.sha256):
        return any(_hmac_matches(token, key, hashlib.sha256) for key in FALLBACK_KEYS) or None
    return None


def verify_token(
    token: str,
    secret: bytes,
    issuer: str | None,
    policy: AuthPolicy = CONFORMING,
    *,
    audience: str | None = None,
    max_lifetime_seconds: float | None = None,
) -> dict[str, Any]:
    """The claims of a token that passes ``policy``; raises ``jwt.InvalidTokenError`` if not.

    ``issuer=None`` is the issuer-less server: ``iss`` is neither required nor
    compared, whatever the token carries. With ``audience=None`` PyJWT's rule
    stands (a token carrying ``aud`` is refused: RFC 7519 4.1.3, the server
    cannot identify with it). Only the configured secret verifies: key
    material or locations in the header (``jwk``, ``jku``, ``x5u``, ``kid``)
    are never consulted, and ``crit`` naming anything is refused (PyJWT
    understands none of the extensions a token could name but ``b64``).
    """
    if policy.crash_above_chars is not None and len(token) > policy.crash_above_chars:
        raise TooLong(f"token of {len(token)} characters overflows the header buffer")
    if policy.strict_encoding:
        _check_encoding(token)
    else:
        token = _lax_segments(token)
    check_issuer = issuer is not None and policy.check_issuer
    check_lifetime_rule = max_lifetime_seconds is not None and policy.check_lifetime
    required = ["exp"] if policy.check_times else []
    if check_issuer:
        required.append("iss")
    if check_lifetime_rule:
        required += [claim for claim in ("iat", "exp") if claim not in required]
    claim_checks: dict[str, Any] = {
        "verify_exp": policy.check_times,
        "verify_nbf": policy.check_times,
        "verify_iat": policy.check_times,
        "verify_iss": check_issuer,
        "verify_aud": policy.check_audience,
        "require": required,
    }
    if not policy.strict_claim_types:
        check_lifetime_rule = _lax_times(token, claim_checks) and check_lifetime_rule
    expected_issuer = issuer if check_issuer else None
    header = (jwt if policy.check_crit else _NO_CRIT_JWS).get_unverified_header(token)
    alg = header.get("alg")
    unsigned = False
    if policy.unsigned_alg_variants and isinstance(alg, str):
        # The hurried fix: `if alg == "none": reject`, then "verify" by alg.
        unsigned = alg.lower() == "none" and alg != "none"
    if not policy.check_signature:
        if alg != ALGORITHM:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        unsigned = True
    decided = None if unsigned else _token_signature_ok(token, header, secret, policy)
    if decided is False:
        raise jwt.InvalidSignatureError("Signature verification failed")
    decode = jwt.decode if policy.check_crit else _CRIT_BLIND.decode
    if unsigned or decided:
        options = {"verify_signature": False, **claim_checks}
        claims = decode(
            token,
            options=options,  # type: ignore[arg-type]
            issuer=expected_issuer,
            audience=audience,
        )
    else:
        claims = decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=expected_issuer,
            audience=audience,
            leeway=0,
            options=claim_checks,  # type: ignore[arg-type]
        )
    if policy.strict_claim_types:
        _check_claim_types(claims)
    if check_lifetime_rule:
        assert max_lifetime_seconds is not None
        check_lifetime(claims, max_lifetime_seconds)
    return claims


@dataclass(frozen=True)
class Credentials:
    """What the Authorization header offered: ``token`` is None when none was usable."""

    token: str | None
    presented: bool  # a token-like value was sent (drives error="invalid_token")


def bearer_token(header: str | None, any_scheme: bool = False) -> Credentials:
    """Extract the token from an Authorization header value.

    The scheme is compared case-insensitively (RFC 6750 via RFC 7235), so
    ``bearer x`` is accepted and ``Token x`` or ``Basic x`` are not;
    ``any_scheme`` is the ``auth-any-scheme`` fault, which takes whatever
    follows the first space.
    """
    if not header:
        return Credentials(None, False)
    scheme, _, rest = header.strip().partition(" ")
    value = rest.strip()
    if not value:
        return Credentials(None, False)
    if scheme.lower() == "bearer" or any_scheme:
        return Credentials(value, True)
    return Credentials(None, False)


def load_or_create_secret(path: Path | None) -> bytes:
    """The HS256 secret: read from ``path`` if it exists, else made and written there (0600).

    Without a path the secret lives only in memory, so tokens from an earlier
    run stop working, which is what a restarted Godot does too.
    """
    if path is None:
        return secrets.token_hex(32).encode()
    try:
        if path.exists():
            secret = path.read_bytes().strip()
            if len(secret) < MIN_SECRET_BYTES:
                raise SecretError(f"secret in {path} is shorter than {MIN_SECRET_BYTES} bytes")
            return secret
        secret = secrets.token_hex(32).encode()
        write_private(path, secret)
        return secret
    except OSError as exc:
        raise SecretError(f"cannot use secret file {path}: {exc.strerror or exc}") from None


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically with mode 0600 (the file holds a credential)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
