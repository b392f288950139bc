"""HS256 bearer tokens: mint one at start, verify every protected request.

Verification is PyJWT with the algorithm pinned (``algorithms=["HS256"]``),
``exp`` and ``iss`` required, and no leeway, so every rejection the contract
lists (bad signature, other or ``none`` alg, empty or truncated signature,
malformed segments, expired, not yet valid) is PyJWT's own. The claim rules
the contract leaves to the target are configuration: an issuer (default, or
none at all with ``--no-issuer``: a legitimate server that never uses
``iss``), an audience, a maximum lifetime. The auth faults are expressed as an
``AuthPolicy`` that loosens one of those checks the way a hurried developer
would, rather than as a second verifier.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash
SUBJECT = "spacetime-client"


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
    cannot identify with it).
    """
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
    expected_issuer = issuer if check_issuer else None
    header = jwt.get_unverified_header(token)
    alg = header.get("alg")
    unsigned = False
    if policy.unsigned_alg_variants and isinstance(alg, str):
        # The hurried fix: `if alg == "none": reject`, then "verify" by alg.
        unsigned = alg.lower() == "none" and alg != "none"
    if not policy.check_signature:
        if alg != ALGORITHM:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        unsigned = True
    if unsigned:
        options = {"verify_signature": False, **claim_checks}
        claims = jwt.decode(
            token,
            options=options,  # type: ignore[arg-type]
            issuer=expected_issuer,
            audience=audience,
        )
    else:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=expected_issuer,
            audience=audience,
            leeway=0,
            options=claim_checks,  # type: ignore[arg-type]
        )
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
