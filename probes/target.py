"""Where the probes point: a real target, or the embedded reference server they start.

The embedded server runs as a child process on free loopback ports; its
token and signing secret live in a private temporary directory, never under
reports/.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class TargetError(RuntimeError):
    """The target cannot be used; the message is one line."""


@dataclass(frozen=True)
class Target:
    base_url: str
    manager_url: str | None
    token: str
    secret: str | None
    embedded: bool


def read_secret_file(path: str | Path, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise TargetError(f"cannot read {what} {path}: {reason}") from None
    if not value:
        raise TargetError(f"{what} {path} is empty")
    return value


_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def jwt_problem(token: str) -> str | None:
    """Why `token` is not a compact JWS (RFC 7515), or None; never quotes the token.

    A token file a new user got wrong (an HTML error page saved by curl, a
    truncated copy, a placeholder such as `x.y.z`) is a set-up mistake, told
    in one line before any probe runs, not a collection crash.
    """
    head = token.lstrip()[:1]
    if head == "<":
        return "it starts with '<' (an HTML or XML page saved instead of the token?)"
    if head == "{":
        return "it is JSON (the token is the compact form header.payload.signature)"
    parts = token.split(".")
    if len(parts) != 3:
        return f"{len(parts)} dot-separated segments, expected 3"
    for name, part in zip(("header", "payload", "signature"), parts, strict=True):
        if not part:
            return f"the {name} segment is empty"
        if not _SEGMENT.fullmatch(part):
            return f"the {name} segment has characters outside base64url"
    for name, part in zip(("header", "payload"), parts[:2], strict=True):
        try:
            value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except (ValueError, binascii.Error):
            return f"the {name} segment is not base64url-encoded JSON (truncated copy?)"
        if not isinstance(value, dict):
            return f"the {name} segment is not a JSON object"
        if name == "header" and not isinstance(value.get("alg"), str):
            return "the header names no alg"
    return None


class EmbeddedServer:
    """`python -m refserver` on free ports, stopped at the end of the session."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        scenes: tuple[str, ...],
        mode: str = "spacetime",
        faults: tuple[str, ...] = (),
        request_log: Path | None = None,
        startup_timeout_s: float = 20.0,
        claims: Mapping[str, str | float | None] | None = None,
    ) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="spacetime-refserver-"))
        self.token_file = self._workdir / "jwt_token.txt"
        self.secret_file = self._workdir / "jwt_secret.txt"
        self._ready = self._workdir / "ready.json"
        self._args = [
            sys.executable, "-m", "refserver",
            "--port", "0", "--manager-port", "0",
            "--ready-file", str(self._ready),
            "--token-file", str(self.token_file),
            "--secret-file", str(self.secret_file),
            "--rate", f"{rate_per_second:g}", "--burst", str(burst),
            "--mode", mode,
        ]  # fmt: skip
        self.mode = mode
        for scene in scenes:
            self._args += ["--scene", scene]
        for fault in faults:
            self._args += ["--fault", fault]
        if request_log is not None:
            self._args += ["--request-log", str(request_log)]
        # The claim rules the profile states (auth: issuer, audience, max_lifetime_s)
        # are what the embedded server enforces: it is the profile's own promise kept.
        claims = claims or {}
        if claims.get("issuer"):
            self._args += ["--issuer", str(claims["issuer"])]
        if claims.get("audience"):
            self._args += ["--audience", str(claims["audience"])]
        if claims.get("max_lifetime_s"):
            self._args += ["--max-token-lifetime", f"{claims['max_lifetime_s']:g}"]
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Target:
        with open(self._workdir / "server.log", "wb") as log:  # the child keeps its own copy
            self._process = subprocess.Popen(
                self._args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = (self._workdir / "server.log").read_text(errors="replace").strip()
                last = tail.splitlines()[-1] if tail else "no output"
                raise TargetError(f"embedded reference server exited at start: {last}")
            if self._ready.exists():
                ready = json.loads(self._ready.read_text())
                return Target(
                    base_url=f"http://127.0.0.1:{ready['port']}",
                    # Only the SpaceTime mode has a manager; the others' second port is empty.
                    manager_url=f"http://127.0.0.1:{ready['manager_port']}"
                    if self.mode == "spacetime"
                    else None,
                    token=read_secret_file(self.token_file, "token file"),
                    secret=read_secret_file(self.secret_file, "secret file"),
                    embedded=True,
                )
            time.sleep(0.05)
        self.stop()
        raise TargetError(f"embedded reference server not ready within {self._timeout:g} s")

    def terminate(self) -> None:
        """Ask the server to shut down, without waiting: it does so while the run writes
        its reports, and `stop` then only reaps it."""
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for path in sorted(self._workdir.glob("*")):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._workdir.rmdir()
