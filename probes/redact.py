"""Keep credentials out of everything the suite writes, and out of what servers send back.

Two nets: the exact secrets this run knows (the token, its segments, the signing
secret), and anything shaped like a JWT, since a tampered or re-signed token still
carries the real token's header, payload or signature. The one place for both: what
the suite writes (`redact`) and what a server echoed (`scrub`, `scrub_bytes`) use the
same secrets and the same shortest secret (`MIN_SECRET_CHARS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]*)?")
_BASE64_BLOB = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9+/=_\-.]{8,}")
_JWT_SHAPE_BYTES = re.compile(JWT_SHAPE.pattern.encode())
REDACTED = "<redacted>"
# Shorter strings occur by chance (and replacing them would mangle the evidence); a
# JWT's segments and any real signing secret are far longer (RFC 7518: HS256 keys are
# at least 32 bytes).
MIN_SECRET_CHARS = 4


def longest_first(values: Iterable[str | None]) -> tuple[str, ...]:
    """The secrets worth hiding, longest first so a secret inside another goes second."""
    return tuple(
        sorted({v for v in values if v and len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    )


def token_parts(token: str | None) -> tuple[str, ...]:
    """The token and each of its segments: a forged variant keeps some of them intact."""
    if not token:
        return ()
    return (token, *(part for part in token.split(".") if len(part) >= MIN_SECRET_CHARS))


AUTH_SCHEMES = frozenset({"bearer", "basic", "digest", "token"})


def sent_credentials(authorization: str) -> tuple[str, ...]:
    """What of a sent Authorization value a server's echo must not show: the value and its
    credential. A scheme alone ("Bearer", the scheme-only probe) carries none; hiding it
    would hide the server's `WWW-Authenticate: Bearer` challenge, which is the evidence."""
    scheme, _, credential = authorization.strip().partition(" ")
    if credential:
        return (authorization, credential)
    return () if scheme.lower() in AUTH_SCHEMES else (authorization,)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """What the suite writes: the secrets, JWT shapes and any `Bearer <credential>`."""
    for secret in longest_first(secrets):
        text = text.replace(secret, REDACTED)
    text = JWT_SHAPE.sub(REDACTED, text)
    return _BASE64_BLOB.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """The run's secrets and anything JWT-shaped out of what a server sent back.

    Narrower than `redact` (which also hides any `Bearer xyz`): a challenge
    like `Bearer error="invalid_token"` is evidence, not a credential.
    """
    for secret in longest_first(secrets):
        text = text.replace(secret, REDACTED)
    return JWT_SHAPE.sub(REDACTED, text)


def scrub_bytes(data: bytes, secrets: tuple[str, ...]) -> bytes:
    for secret in longest_first(secrets):
        data = data.replace(secret.encode(), REDACTED.encode())
    return _JWT_SHAPE_BYTES.sub(REDACTED.encode(), data)
