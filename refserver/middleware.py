"""The API's request pipeline, one plain ASGI middleware per concern.

Order (outermost first): request log, crash guard, latency, rate limit,
auth, handler latency, then Starlette's router. ``ratelimit-after-auth``
swaps rate limit and auth; the other faults are switches inside one stage.
Plain ASGI rather than ``BaseHTTPMiddleware`` keeps the per-request cost low
enough for load tests and lets a stage answer without touching the body.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

import jwt
from starlette.datastructures import Headers, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refserver.auth import Credentials, bearer_token, verify_token
from refserver.performance import performance_document
from refserver.responses import JSON, error_response
from refserver.state import ServerState

logger = logging.getLogger("refserver")

AUTHENTICATED_KEY = "refserver.authenticated"
TOKEN_PARAMETERS = ("access_token", "token", "jwt")  # where ``auth-token-in-query`` looks
PENALTY_SECONDS = 5.0
NGINX_503 = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


# Headers that web frameworks' "client IP" helpers read, in the order they are tried; any
# client can send them, so only a named proxy's word could ever be trusted.
CLIENT_IP_HEADERS = (
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "forwarded",
)


@dataclass(frozen=True)
class BucketKey:
    """What a request's bucket is keyed on; the defaults are the contract's: the peer alone.

    Each flag is a rate-limit fault, a way real limiters let the client pick
    its bucket: ``trust_any_xff`` (``ratelimit-trust-xff``), ``client_headers``
    (``ratelimit-trust-client-headers``: the first of CLIENT_IP_HEADERS
    present, a framework's get_client_ip), ``per_credential``
    (``ratelimit-per-token``: per API key, whatever the key), ``per_route``
    (``ratelimit-per-route``: one limit per route, as a per-view decorator
    gives) and ``per_connection`` (``ratelimit-per-connection``: the peer's
    address and port, so every new connection starts full).
    """

    trust_any_xff: bool = False
    client_headers: bool = False
    per_credential: bool = False
    per_route: bool = False
    per_connection: bool = False


CONTRACT_KEY = BucketKey()


def _forwarded_for(value: str) -> str:
    """The first ``for=`` of an RFC 7239 Forwarded value, unquoted; the value if none."""
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, found = pair.strip().partition("=")
            if name.lower() == "for" and found:
                return found.strip('"')
    return value.strip()


def client_key(scope: Scope, trusted: frozenset[str], rule: BucketKey = CONTRACT_KEY) -> str:
    """Whom a request counts against: the peer, or the client a trusted proxy names.

    With a trusted peer, ``X-Forwarded-For`` is read right to left and the
    first hop that is not itself a trusted proxy is the client (the hops
    further left are whatever the client chose to send). Nothing else the
    client sends counts, unless ``rule`` is one of the faults.
    """
    headers = Headers(scope=scope)
    key = _client(scope, headers, trusted, rule)
    if rule.per_connection:
        client = scope.get("client")
        key += f":{client[1]}" if client else ""
    if rule.per_credential:
        key += "|" + hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()[:16]
    if rule.per_route:
        key += "|" + scope.get("path", "")
    return key


def _client(scope: Scope, headers: Headers, trusted: frozenset[str], rule: BucketKey) -> str:
    address = peer(scope)
    if rule.client_headers:
        for name in CLIENT_IP_HEADERS:
            value = headers.get(name)
            if value:
                return _forwarded_for(value) if name == "forwarded" else value.strip()
    values = headers.getlist("x-forwarded-for")
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    if not hops:
        return address
    if rule.trust_any_xff:
        return hops[0]
    if address not in trusted:
        return address
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0]


def stall_wait(now: float, period_seconds: float, stall_seconds: float) -> float:
    """Seconds until the current stall window ends (``latency-stall``), 0 outside one."""
    phase = now % period_seconds
    return stall_seconds - phase if phase < stall_seconds else 0.0


class RequestLogMiddleware:
    """Writes one JSON line per request with its final status (``--request-log``)."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        log = self.state.request_log
        if scope["type"] != "http" or log is None:
            await self.app(scope, receive, send)
            return
        ts = self.state.wall_clock()
        status = 0

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            log.write(ts, peer(scope), scope["method"], scope["path"], status or 500)


class CrashGuardMiddleware:
    """Turns an unhandled exception into a bare 500 and one log line, no traceback.

    A crash is a legitimate server behaviour to probe (``traversal-crash-500``);
    a traceback on stderr per request is not, and its text could carry the
    request's data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            logger.error(
                "unhandled %s for %s %s", type(exc).__name__, scope["method"], scope["path"]
            )
            if not started:
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)


class LatencyMiddleware:
    """Delay before anything else: the service time, ``latency-slow-all``, ``latency-stall``.

    The service time (``--latency-ms`` with its jitter and slow tail, drawn
    from ``state.rng``) is conforming and applies to every request of the app
    it wraps, the manager's ``/health`` included; ``with_faults=False`` (the
    manager) leaves out the latency faults, which break the API only.
    """

    def __init__(self, app: ASGIApp, state: ServerState, with_faults: bool = True) -> None:
        self.app = app
        self.state = state
        settings = state.settings
        self.service_time = state.service_time
        self.fault_seconds = 0.3 if with_faults and settings.has("latency-slow-all") else 0.0
        self.stall = with_faults and settings.has("latency-stall")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            delay = self.fault_seconds
            if not self.service_time.idle:
                delay += self.service_time.draw_ms(self.state.rng) / 1000
            if self.stall:
                settings = self.state.settings
                delay += stall_wait(
                    self.state.clock(), settings.stall_period_seconds, settings.stall_seconds
                )
            if delay > 0:
                await asyncio.sleep(delay)
        await self.app(scope, receive, send)


class RateLimitMiddleware:
    """The per-client token bucket; answers 429 with ``Retry-After`` when it is empty."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state
        has = state.settings.has
        self.key_rule = BucketKey(
            trust_any_xff=has("ratelimit-trust-xff"),
            client_headers=has("ratelimit-trust-client-headers"),
            per_credential=has("ratelimit-per-token"),
            per_route=has("ratelimit-per-route"),
            per_connection=has("ratelimit-per-connection"),
        )
        self.as_nginx = has("ratelimit-503")
        self.retry_after = not has("ratelimit-no-retry-after")
        self.penalty_box = has("ratelimit-retry-after-lies")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        key = client_key(scope, state.settings.trusted_proxies, self.key_rule)
        now = state.clock()
        retry_after: int
        if self.penalty_box and now < state.penalty_until.get(key, 0.0):
            retry_after = 1
        else:
            decision = state.limiter.take(key, now)
            if decision.allowed:
                await self.app(scope, receive, send)
                return
            retry_after = 1 if self.penalty_box else decision.retry_after_seconds
        state.counters.rate_limit_violations += 1
        if self.penalty_box:
            self._punish(key, now)
        if self.as_nginx:
            await HTMLResponse(NGINX_503, 503)(scope, receive, send)
            return
        headers = {"Retry-After": str(retry_after)} if self.retry_after else None
        response = error_response(
            state.settings,
            429,
            "rate_limited",
            "too many requests from this client; retry later",
            headers,
        )
        await response(scope, receive, send)

    def _punish(self, key: str, now: float) -> None:
        boxes = self.state.penalty_until
        if len(boxes) > 10_000:
            for stale in [k for k, until in boxes.items() if until <= now]:
                del boxes[stale]
        boxes[key] = now + PENALTY_SECONDS


class AuthMiddleware:
    """Bearer-token check for the protected paths (all but ``/status`` and unknown paths)."""

    def __init__(
        self,
        app: ASGIApp,
        state: ServerState,
        protected_paths: frozenset[str],
    ) -> None:
        self.app = app
        self.state = state
        self.protected_paths = protected_paths
        has = state.settings.has
        self.open_routes = {("GET", "/jobs")} if has("auth-open-route") else set()
        self.any_scheme = has("auth-any-scheme")
        self.challenge = not has("auth-no-challenge")
        self.forbid_bad_tokens = has("auth-403")
        self.leaky = has("auth-leaky-401")
        self.token_elsewhere = has("auth-token-in-query")
        self.first_header = has("auth-first-authorization-header")

    def _credentials(self, scope: Scope) -> Credentials | None:
        """What the request offers; None when it sends more than one Authorization header.

        Only the header authenticates: ``auth-token-in-query`` also takes a
        token from the query string or a cookie; ``auth-first-authorization-header``
        takes the first of several headers (Starlette's ``Headers.get``).
        """
        headers = Headers(scope=scope)
        values = headers.getlist("authorization")
        if len(values) > 1 and not self.first_header:
            return None
        credentials = bearer_token(values[0] if values else None, self.any_scheme)
        if credentials.token is None and not values and self.token_elsewhere:
            query = QueryParams(scope.get("query_string", b""))
            cookies = cookie_parser(headers.get("cookie", ""))
            for name in TOKEN_PARAMETERS:
                value = query.get(name) or cookies.get(name)
                if value:
                    return Credentials(value, True)
        return credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if path not in self.protected_paths or (method, path) in self.open_routes:
            await self.app(scope, receive, send)
            return
        state = self.state
        credentials = self._credentials(scope)
        if credentials is None:
            # RFC 6750 3.1: repeating the credential is invalid_request, answered 400.
            state.counters.auth_failures += 1
            refusal = {"WWW-Authenticate": 'Bearer realm="spacetime", error="invalid_request"'}
            message = "more than one Authorization header"
            response = error_response(state.settings, 400, "invalid_request", message, refusal)
            await response(scope, receive, send)
            return
        if credentials.token is not None:
            try:
                verify_token(
                    credentials.token,
                    state.secret,
                    state.settings.issuer,
                    state.auth_policy,
                    audience=state.settings.audience,
                    max_lifetime_seconds=state.settings.max_token_lifetime_seconds,
                )
            except (jwt.PyJWTError, ValueError, TypeError):
                pass
            else:
                scope[AUTHENTICATED_KEY] = True
                await self.app(scope, receive, send)
                return
        state.counters.auth_failures += 1
        settings = state.settings
        if credentials.presented and self.forbid_bad_tokens:
            response = error_response(settings, 403, "forbidden", "invalid token")
            await response(scope, receive, send)
            return
        headers: dict[str, str] = {}
        if self.challenge:
            challenge = 'Bearer realm="spacetime"'
            if credentials.presented:
                challenge += ', error="invalid_token"'
            headers["WWW-Authenticate"] = challenge
        message = "invalid or expired token" if credentials.presented else "bearer token required"
        response = error_response(settings, 401, "unauthorized", message, headers)
        if self.leaky and method == "GET" and path == "/performance":
            # The debug leftover: the document was built before the check and sent anyway.
            leaked = performance_document(settings, state.wall_clock(), state.counters)
            body = {**leaked, "error": "unauthorized", "message": message}
            response = JSON(body, 401, headers=headers)
        await response(scope, receive, send)


class HandlerLatencyMiddleware:
    """Per-endpoint delays after auth: ``latency-tail``, ``-slow-endpoint``, ``-slow-write``."""

    def __init__(
        self, app: ASGIApp, state: ServerState, routes: frozenset[tuple[str, str]]
    ) -> None:
        self.app = app
        self.state = state
        self.routes = routes
        has = state.settings.has
        self.tail = has("latency-tail")
        self.slow_history = has("latency-slow-endpoint")
        self.slow_write = has("latency-slow-write")

    def delay_seconds(self, method: str, path: str, authenticated: bool) -> float:
        if (method, path) not in self.routes:
            return 0.0
        delay = 0.0
        if self.tail and method == "GET" and authenticated:
            counts = self.state.endpoint_counts
            counts[(method, path)] += 1
            if counts[(method, path)] % 7 == 0:
                delay += 0.7
        if self.slow_history and method == "GET" and path == "/scene/history":
            delay += 0.25
        if self.slow_write and method == "POST" and path in ("/scene", "/scene/reload"):
            delay += 0.4
        return delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authenticated = bool(scope.get(AUTHENTICATED_KEY))
            delay = self.delay_seconds(scope["method"], scope["path"], authenticated)
            if delay > 0:
                await asyncio.sleep(delay)
        await self.app(scope, receive, send)
