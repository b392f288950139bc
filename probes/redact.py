"""Keep credentials out of everything the suite writes.

Two nets: the exact secrets this run knows (the token, the signing secret),
and anything shaped like a JWT, since a tampered or re-signed token still
carries the real token's header, payload or signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]*)?")
_BASE64_BLOB = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9+/=_\-.]{8,}")
REDACTED = "<redacted>"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = JWT_SHAPE.sub(REDACTED, text)
    return _BASE64_BLOB.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
