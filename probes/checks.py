"""Pure verdicts on exchanges. Each raises `ProbeFailure` carrying the evidence.

A failure reads as one line: what was sent, what was expected, what came
back; the plugin appends the reproducing curl command.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from probes.exchange import Exchange


class ProbeFailure(AssertionError):
    """A contract breach; `exchange` (if any) reproduces it, `measured` and `limit` quantify it."""

    def __init__(
        self,
        reason: str,
        *,
        exchange: Exchange | None = None,
        measured: object = None,
        limit: object = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exchange = exchange
        self.measured = measured
        self.limit = limit


def _got(exchange: Exchange) -> str:
    if exchange.status is None:
        return f"no response ({exchange.error})"
    return str(exchange.status)


def answered(exchange: Exchange, what: str) -> None:
    if exchange.status is None:
        raise ProbeFailure(f"{what}: no response ({exchange.error})", exchange=exchange)


def status_is(exchange: Exchange, expected: int, what: str) -> None:
    if exchange.status != expected:
        raise ProbeFailure(
            f"{what}: expected {expected}, got {_got(exchange)}",
            exchange=exchange,
            measured=exchange.status,
            limit=expected,
        )


def status_success(exchange: Exchange, what: str) -> None:
    if exchange.status is None or not 200 <= exchange.status < 300:
        raise ProbeFailure(
            f"{what}: expected 2xx, got {_got(exchange)}",
            exchange=exchange,
            measured=exchange.status,
        )


def bearer_challenge(exchange: Exchange, what: str) -> None:
    challenge = exchange.header("www-authenticate")
    if challenge is None or not challenge.strip().lower().startswith("bearer"):
        shown = "missing" if challenge is None else repr(challenge[:60])
        raise ProbeFailure(
            f"{what}: 401 without a 'WWW-Authenticate: Bearer' challenge ({shown})",
            exchange=exchange,
        )


def json_content_type(exchange: Exchange, what: str) -> None:
    content_type = (exchange.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ProbeFailure(
            f"{what}: Content-Type {content_type or 'missing'!s}, expected application/json",
            exchange=exchange,
        )


def json_body(exchange: Exchange, what: str) -> Any:
    try:
        return exchange.json()
    except ValueError as exc:
        raise ProbeFailure(f"{what}: {exc}", exchange=exchange) from None


def error_body(exchange: Exchange, what: str) -> None:
    """The contract's error shape: a JSON object with string `error` and `message`."""
    json_content_type(exchange, what)
    body = json_body(exchange, what)
    if not (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("message"), str)
    ):
        raise ProbeFailure(
            f"{what}: error body is not {{'error': str, 'message': str}}", exchange=exchange
        )


# Field names that only a protected resource's body carries: a 401 that
# contains one has leaked what it was guarding.
PROTECTED_MARKERS = (
    "static_memory_usage",
    "hit_rate",
    "nodes_in_use",
    "queue_length",
    '"webhooks"',
    '"history"',
    '"scenes"',
    '"loaded_at"',
    '"scene_path"',
    '"valid"',
)


def no_protected_data(
    exchange: Exchange, what: str, markers: Iterable[str] = PROTECTED_MARKERS
) -> None:
    text = exchange.text
    leaked = [marker.strip('"') for marker in markers if marker in text]
    if leaked:
        raise ProbeFailure(
            f"{what}: the {exchange.status} body leaks protected fields: {', '.join(leaked[:4])}",
            exchange=exchange,
        )


# What a leaked file looks like: system files, and a Godot project's own.
FILE_SIGNATURES = {
    "passwd": re.compile(r"root:[x*!]?:0:0:"),
    "shadow": re.compile(r"root:[$!*][^:]*:\d+:"),
    "win.ini": re.compile(r"\[(?:fonts|extensions|boot loader)\]", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "godot project": re.compile(r"config_version=\d|\[application\]"),
    "godot scene": re.compile(r"\[gd_scene\b|\[ext_resource\b"),
    "php/script source": re.compile(r"<\?php|#!/(?:usr/)?bin/"),
}


def no_file_signatures(exchange: Exchange, what: str) -> None:
    text = exchange.text
    found = [name for name, pattern in FILE_SIGNATURES.items() if pattern.search(text)]
    if found:
        raise ProbeFailure(
            f"{what}: response body contains file contents ({', '.join(found)})", exchange=exchange
        )


def retry_after_seconds(exchange: Exchange, what: str) -> int:
    """Retry-After as the contract states it: whole seconds, at least 0."""
    value = exchange.header("retry-after")
    if value is None:
        raise ProbeFailure(f"{what}: 429 without a Retry-After header", exchange=exchange)
    if not value.strip().isdigit():
        raise ProbeFailure(
            f"{what}: Retry-After {value[:40]!r} is not whole seconds", exchange=exchange
        )
    return int(value.strip())


@dataclass(frozen=True)
class LimitWindow:
    """Where the first 429 may land when draining a full token bucket."""

    earliest: int
    latest: int


def limit_slack(burst: int, tolerance_ratio: float) -> int:
    """How far from the bucket's figure the first 429 may land: a share of burst, at least 2."""
    return max(2, math.ceil(burst * tolerance_ratio))


def limit_window(
    burst: int, rate_per_second: float, elapsed_s: float, tolerance_ratio: float
) -> LimitWindow:
    """The bucket admits `burst` at once plus what refills while the drain runs."""
    slack = limit_slack(burst, tolerance_ratio)
    refill = math.ceil(rate_per_second * elapsed_s)
    return LimitWindow(earliest=max(1, burst - slack), latest=burst + refill + slack)


def max_honest_retry_after(burst: int, rate_per_second: float) -> int:
    """No client should be told to wait longer than a whole bucket takes to refill."""
    return max(1, math.ceil(burst / rate_per_second)) + 1
