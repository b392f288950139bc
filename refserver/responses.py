"""Responses: the JSON renderer and the error factory, each defined once.

``JSON`` escapes non-ASCII, so a path holding a lone surrogate (JSON allows
``"\\ud800"``) that a faulty rule recorded cannot make a later response
unencodable. Every 4xx the server produces (middleware or handler) goes through
``error_response``; that is also where ``contract-error-body`` swaps the JSON
object for the bare status phrase, leaving status code and headers alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from refserver.config import Settings


class JSON(JSONResponse):
    """``application/json``, compact and ASCII-only."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def error_response(
    settings: Settings,
    status: int,
    error: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"error": ..., "message": ...}`` with ``status``; never echo request data in it."""
    if settings.has("contract-error-body"):
        return PlainTextResponse(HTTPStatus(status).phrase, status, headers=headers)
    return JSON({"error": error, "message": message}, status, headers=headers)
