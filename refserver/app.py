"""The two Starlette apps: the HttpApiServer API and the Python manager.

Declarative: a route table, the middleware pipeline chosen from the settings,
JSON handlers for 404/405. The handlers are thin; what they answer comes from
the pure modules (``performance``, ``pathrules``, ``scenes``) and from the
shared ``ServerState``, which both apps receive so the manager reports the
scene the API loaded.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from refserver.config import Settings
from refserver.middleware import (
    AuthMiddleware,
    CrashGuardMiddleware,
    HandlerLatencyMiddleware,
    LatencyMiddleware,
    RateLimitMiddleware,
    RequestLogMiddleware,
)
from refserver.pathrules import (
    INVALID_MESSAGE,
    BodyRejected,
    Carried,
    PathRule,
    Reader,
    lenient_decode,
    reader_for,
    rules_for,
)
from refserver.performance import health_document, performance_document, status_document
from refserver.responses import JSON, error_response
from refserver.state import ServerState

MAX_BODY_BYTES = 64 * 1024
UNPROTECTED_PATHS = frozenset({"/status"})
API_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/scene"),
    ("GET", "/scene"),
    ("PUT", "/scene"),
    ("GET", "/scenes"),
    ("POST", "/scene/reload"),
    ("GET", "/scene/history"),
    ("GET", "/performance"),
    ("GET", "/webhooks"),
    ("GET", "/jobs"),
    ("GET", "/status"),
)
PROTECTED_PATHS = frozenset(path for _, path in API_ROUTES) - UNPROTECTED_PATHS
STATE_KEY = "refserver"


class _BadBody(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BadBody(413, "payload_too_large", f"body larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BadBody(413, "payload_too_large", f"body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _scene_path(request: Request, read: Reader) -> Carried:
    """What the request carries as ``scene_path``; a body without a usable one is a 400."""
    body = await _read_body(request)
    try:
        return read(
            body, request.headers.get("content-type", ""), request.query_params.get("scene_path")
        )
    except BodyRejected as bad:
        raise _BadBody(bad.status, bad.error, bad.message) from None


class ApiHandlers:
    """The endpoints of the HttpApiServer; state lives in ``ServerState``."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.settings = state.settings
        self.post_rule, self.put_rule = rules_for(state.settings)
        self.read_scene_path = reader_for(state.settings)

    def _error(self, status: int, error: str, message: str) -> Response:
        return error_response(self.settings, status, error, message)

    def _not_found(self) -> Response:
        return self._error(404, "scene_not_found", "no scene at that path")

    def _unknown_before_check(self, rule: PathRule, raw: str) -> bool:
        return rule.lookup_first and lenient_decode(raw) not in self.state.scenes.known

    def _load_path(self, rule: PathRule, carried: Carried) -> str | Response:
        """The string the loader gets, or the 404/400 that ends the request first."""
        if carried.checked is None:  # only a carrier fault skips the rule's check
            return lenient_decode(carried.loaded or "")
        if self._unknown_before_check(rule, carried.checked):
            return self._not_found()
        checked = rule.validate(carried.checked)
        if not checked.valid or checked.load_path is None:
            return self._error(400, "invalid_scene_path", INVALID_MESSAGE)
        return checked.load_path if carried.loaded is None else lenient_decode(carried.loaded)

    async def load_scene(self, request: Request) -> Response:
        try:
            carried = await _scene_path(request, self.read_scene_path)
        except _BadBody as bad:
            return self._error(bad.status, bad.error, bad.message)
        rule, scenes, clock = self.post_rule, self.state.scenes, self.state.wall_clock
        load_path = self._load_path(rule, carried)
        if isinstance(load_path, Response):
            return load_path
        started = time.perf_counter()
        found = scenes.filesystem.open(rule.prepare(load_path))
        duration_ms = (time.perf_counter() - started) * 1000
        now = clock()
        if found is None:
            scenes.record(load_path, now, duration_ms, success=False)
            return self._not_found()
        if found.res_path is None:
            # Only a faulty rule gets here: it "loads" whatever file it reached.
            scenes.record(load_path, now, duration_ms, success=True)
            raw = carried.loaded if carried.loaded is not None else carried.checked
            return JSON({"status": "loaded", "scene_path": raw, "content": found.content})
        scenes.switch(found.res_path, now)
        scenes.record(found.res_path, now, duration_ms, success=True)
        return JSON({"status": "loaded", "scene_path": found.res_path})

    async def validate_scene(self, request: Request) -> Response:
        try:
            carried = await _scene_path(request, self.read_scene_path)
        except _BadBody as bad:
            return self._error(bad.status, bad.error, bad.message)
        rule = self.put_rule
        load_path = self._load_path(rule, carried)
        if isinstance(load_path, Response):
            return load_path
        raw = carried.loaded if carried.loaded is not None else carried.checked
        if not rule.check_exists:
            return JSON({"valid": True, "scene_path": raw})
        found = self.state.scenes.filesystem.open(rule.prepare(load_path))
        if found is None:
            return self._not_found()
        return JSON({"valid": True, "scene_path": found.res_path or raw})

    async def current_scene(self, request: Request) -> Response:
        scenes = self.state.scenes
        return JSON(
            {"scene_path": scenes.current, "name": scenes.name, "loaded_at": scenes.loaded_at}
        )

    async def list_scenes(self, request: Request) -> Response:
        body = {"scenes": list(self.state.scenes.known)}
        if self.settings.has("contract-text-plain"):
            return Response(json.dumps(body), media_type="text/plain")
        return JSON(body)

    async def reload_scene(self, request: Request) -> Response:
        scenes = self.state.scenes
        started = time.perf_counter()
        now = self.state.wall_clock()
        scenes.switch(scenes.current, now)
        scenes.record(scenes.current, now, (time.perf_counter() - started) * 1000, success=True)
        return JSON({"status": "reloaded", "scene_path": scenes.current})

    async def history(self, request: Request) -> Response:
        with_duration = not self.settings.has("contract-history-shape")
        entries = [entry.as_json(with_duration) for entry in self.state.scenes.history]
        return JSON({"history": entries})

    async def performance(self, request: Request) -> Response:
        state = self.state
        return JSON(performance_document(self.settings, state.wall_clock(), state.counters))

    async def webhooks(self, request: Request) -> Response:
        return JSON({"webhooks": []})

    async def jobs(self, request: Request) -> Response:
        queue_length: Any = "0" if self.settings.has("contract-wrong-type") else 0
        return JSON({"jobs": [], "queue_length": queue_length})

    async def status(self, request: Request) -> Response:
        return JSON(status_document(self.settings, self.state.wall_clock()))


def _http_error_handler(settings: Settings) -> Any:
    """404 and 405 from the router, as the contract's JSON error body."""
    names = {404: "not_found", 405: "method_not_allowed"}

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error = names.get(exc.status_code, "http_error")
        return error_response(settings, exc.status_code, error, str(exc.detail), exc.headers)

    return handle


def _starlette(
    settings: Settings, routes: list[Route], middleware: list[Middleware], state: ServerState
) -> Starlette:
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error_handler(settings)},
    )
    app.router.redirect_slashes = False  # /scene/ is a 404, not a redirect
    setattr(app.state, STATE_KEY, state)
    return app


def create_app(settings: Settings, state: ServerState | None = None) -> Starlette:
    """The HttpApiServer: ten endpoints behind log, crash guard, latency, rate limit and auth.

    ``app.state.refserver`` is the ``ServerState`` (its ``token`` is what a
    test sends); pass the same ``state`` to ``create_manager_app``.
    """
    state = state if state is not None else ServerState.create(settings)
    h = ApiHandlers(state)
    endpoints = {
        ("POST", "/scene"): h.load_scene,
        ("GET", "/scene"): h.current_scene,
        ("PUT", "/scene"): h.validate_scene,
        ("GET", "/scenes"): h.list_scenes,
        ("POST", "/scene/reload"): h.reload_scene,
        ("GET", "/scene/history"): h.history,
        ("GET", "/performance"): h.performance,
        ("GET", "/webhooks"): h.webhooks,
        ("GET", "/jobs"): h.jobs,
        ("GET", "/status"): h.status,
    }
    routes = [
        Route(path, endpoints[(method, path)], methods=[method]) for method, path in API_ROUTES
    ]
    rate_limit = [] if settings.has("ratelimit-none") else [Middleware(RateLimitMiddleware, state)]
    auth = [Middleware(AuthMiddleware, state, PROTECTED_PATHS)]
    guarded = auth + rate_limit if settings.has("ratelimit-after-auth") else rate_limit + auth
    middleware = [
        Middleware(RequestLogMiddleware, state),
        Middleware(CrashGuardMiddleware),
        Middleware(LatencyMiddleware, state),
        *guarded,
        Middleware(HandlerLatencyMiddleware, state, frozenset(API_ROUTES)),
    ]
    return _starlette(settings, routes, middleware, state)


def create_manager_app(settings: Settings, state: ServerState | None = None) -> Starlette:
    """The Python manager: ``GET /health`` only, no auth and no rate limit.

    It waits the conforming service time (``--latency-ms`` etc.) like the API.
    """
    state = state if state is not None else ServerState.create(settings)

    async def health(request: Request) -> Response:
        now = datetime.fromtimestamp(state.wall_clock(), UTC).isoformat(timespec="seconds")
        status, body = health_document(settings, now, state.pid, state.scenes.name)
        return JSON(body, status)

    routes = [Route("/health", health, methods=["GET"])]
    # The same conforming service time as the API (one system, one model), no faults.
    middleware = [
        Middleware(CrashGuardMiddleware),
        Middleware(LatencyMiddleware, state, with_faults=False),
    ]
    return _starlette(settings, routes, middleware, state)
