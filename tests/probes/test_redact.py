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
