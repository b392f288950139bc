"""What a probe sent and what came back, as plain data the pure checks can judge."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from probes.redact import redact

MAX_BODY_BYTES = 1 << 20
# Connections per ProbeClient: the most requests one probe has in flight at once
# (the rate-limit drain at 100 r/s against 180 ms answers needs 27, probes/drain.py).
POOL_CONNECTIONS = 32


@dataclass(frozen=True)
class Exchange:
    method: str
    url: str
    endpoint: str
    request_headers: Mapping[str, str]
    request_body: bytes | None
    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    latency_ms: float | None = None
    error: str | None = None
    # Time spent waiting for our own pacer before sending: the client's doing,
    # not the target's, so schedule-corrected latency leaves it out.
    queued_ms: float = 0.0
    # This request opened its connection (TCP connect, TLS) rather than reusing a
    # kept-alive one: its latency is not "on a warm connection" (the contract's figure).
    opened: bool = False

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; raises ValueError with a short reason when it is not."""
        if self.truncated:
            raise ValueError(f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"body is not JSON ({exc.__class__.__name__})") from None

    def curl(self, secrets: tuple[str, ...] = ()) -> str:
        """A command that reproduces the request, credentials redacted."""
        parts = ["curl", "-sS", "-i", "-X", self.method, self.url]
        for name, value in self.request_headers.items():
            if name.lower() == "authorization":
                scheme = value.split(" ", 1)[0] if " " in value else ""
                value = f"{scheme} <redacted>".strip() if value else value
            parts += ["-H", f"{name}: {value}"]
        if self.request_body is not None:
            parts += ["--data-binary", self.request_body.decode("utf-8", errors="replace")]
        return redact(shlex.join(parts), secrets)

    def brief(self) -> str:
        if self.status is None:
            return f"{self.method} {self.endpoint} -> no response ({self.error})"
        brief = f"{self.method} {self.endpoint} -> {self.status} in {self.latency_ms:.1f} ms"
        location = self.header("location")
        if self.status is not None and 300 <= self.status < 400 and location:
            brief += f" (redirect to {location[:120]}, not followed)"
        return brief
