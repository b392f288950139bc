"""Redaction catches exact secrets and anything JWT-shaped, including tampered tokens."""

from __future__ import annotations

import jwt

from probes.redact import redact

SECRET = "s3cret-signing-key-that-is-long-enough-for-hs256"


def test_exact_secrets_and_jwt_shapes() -> None:
    token = jwt.encode({"sub": "x"}, SECRET, algorithm="HS256")
    header, payload, signature = token.split(".")
    text = f"a {token} b {header}.{payload}. c Basic dGVzdDp0ZXN0dGVzdA== d {SECRET}"
    out = redact(text, secrets=(token, SECRET))
    assert token not in out and signature not in out and SECRET not in out
    assert "dGVzdDp0ZXN0dGVzdA" not in out
    assert out.startswith("a <redacted> b")


def test_plain_text_untouched() -> None:
    assert redact("GET /scenes -> 200 in 3.1 ms") == "GET /scenes -> 200 in 3.1 ms"


def test_what_is_written_and_what_came_back_hide_the_same_secrets() -> None:
    """One rule for both nets: a 6-character secret that `redact` hid, `scrub` let through."""
    from probes.redact import MIN_SECRET_CHARS, scrub, scrub_bytes

    secret = "k3y-42"
    assert len(secret) >= MIN_SECRET_CHARS
    echoed = f'{{"echo": "{secret}", "note": "abc"}}'
    assert secret not in redact(echoed, [secret])
    assert secret not in scrub(echoed, (secret,))
    assert secret.encode() not in scrub_bytes(echoed.encode(), (secret,))
    assert "abc" in scrub(echoed, ("abc"[: MIN_SECRET_CHARS - 1],))  # too short: left alone
