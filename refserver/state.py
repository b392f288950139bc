"""The server's mutable state, shared by the API app and the manager app.

One object per server process: the secret and minted token, the rate-limit
buckets, the security counters, the scene store and the per-endpoint counters
some faults need. Clocks and the latency draws' ``random.Random`` are
injected so tests can drive time and randomness; the request log is the only
file this module touches.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from refserver.auth import LONG_TOKEN_CRASH_CHARS, AuthPolicy, mint_token
from refserver.config import Settings
from refserver.performance import SecurityCounters
from refserver.ratelimit import TokenBucket
from refserver.scenes import SceneStore
from refserver.servicetime import ServiceTime

Clock = Callable[[], float]


class RequestLog:
    """JSON Lines, one line per API request, flushed per line.

    It records only ``ts, client, method, path, status``: never headers,
    bodies or the query string, so the token cannot end up in it. It exists
    to prove that no POST or PUT reached a production target.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, ts: float, client: str, method: str, path: str, status: int) -> None:
        if self._handle is None:
            return
        record = {"ts": ts, "client": client, "method": method, "path": path, "status": status}
        self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _auth_policy(settings: Settings) -> AuthPolicy:
    return AuthPolicy(
        check_signature=not settings.has("auth-skip-signature"),
        unsigned_alg_variants=settings.has("auth-alg-none"),
        check_times=not settings.has("auth-ignore-exp"),
        check_issuer=not settings.has("auth-ignore-issuer"),
        check_audience=not settings.has("auth-ignore-audience"),
        check_lifetime=not settings.has("auth-ignore-lifetime"),
        strict_encoding=not settings.has("auth-lax-base64"),
        strict_claim_types=not settings.has("auth-lax-claim-types"),
        check_crit=not settings.has("auth-ignore-crit"),
        trust_jwk=settings.has("auth-trust-jwk"),
        key_url_fail_open=settings.has("auth-key-url-fail-open"),
        kid_path=settings.has("auth-kid-path"),
        kid_sql=settings.has("auth-kid-sql"),
        alg_from_header=settings.has("auth-alg-from-header"),
        fallback_keys=settings.has("auth-fallback-keys"),
        crash_above_chars=LONG_TOKEN_CRASH_CHARS if settings.has("auth-long-token-500") else None,
    )


@dataclass
class ServerState:
    """Shared state; build it with ``ServerState.create``."""

    settings: Settings
    secret: bytes = field(repr=False)
    token: str = field(repr=False)
    auth_policy: AuthPolicy
    limiter: TokenBucket
    scenes: SceneStore
    counters: SecurityCounters
    clock: Clock
    wall_clock: Clock
    # Conforming service time and the randomness it draws from (``--latency-seed``).
    service_time: ServiceTime = field(default_factory=ServiceTime)
    rng: random.Random = field(default_factory=random.Random, repr=False)
    request_log: RequestLog | None = None
    endpoint_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    penalty_until: dict[str, float] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def create(
        cls,
        settings: Settings,
        secret: bytes | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> ServerState:
        """Mint the token, fill the buckets, load the first scene, open the request log.

        ``rng`` defaults to one seeded with ``settings.latency_seed`` (None: from
        the OS), so a run with a seed repeats its latency draws.
        """
        secret = secret if secret is not None else secrets.token_hex(32).encode()
        burst = settings.burst * (3 if settings.has("ratelimit-loose") else 1)
        now = wall_clock()
        return cls(
            settings=settings,
            secret=secret,
            token=mint_token(
                secret, settings.issuer, settings.token_ttl_seconds, now, settings.audience
            ),
            auth_policy=_auth_policy(settings),
            limiter=TokenBucket(burst, settings.rate_per_second),
            scenes=SceneStore(settings.scenes, now),
            counters=SecurityCounters(),
            clock=clock,
            wall_clock=wall_clock,
            service_time=settings.service_time(),
            rng=rng if rng is not None else random.Random(settings.latency_seed),
            request_log=RequestLog(settings.request_log) if settings.request_log else None,
        )

    def close(self) -> None:
        if self.request_log is not None:
            self.request_log.close()
