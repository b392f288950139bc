"""The VTT mode (``--mode vtt``): the health and metrics API of seed 004, with its faults.

- ``GET /api/health`` (open): ``status`` healthy/degraded/unhealthy, ``uptime``,
  ``timestamp``, ``version``, ``checks``; 200, or 503 when unhealthy.
- ``GET /api/health/live`` (open): 200 ``{"status": "alive", "uptime"}`` while the
  process runs, whatever its dependencies do.
- ``GET /api/health/ready`` (open): 200 ``ready``, or 503 ``not_ready`` while a
  critical check fails.
- ``GET /api/metrics`` (Bearer): the metrics as JSON.
- ``GET /api/metrics/prometheus`` (open): Prometheus text exposition.

The same middleware as the SpaceTime API (request log, crash guard, base
latency, the token-bucket limiter before Bearer auth), plus one that counts
every answer, 401s and 429s included, into the app's own prometheus-client
registry. The checks are simulated: ``database`` (critical) and ``memory``;
``--vtt-failing-check NAME`` makes one report ``fail`` (an outage the probes
must report correctly, not a fault). The pure rules (``overall_status``,
``health_report``) are kept apart from the handlers.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refserver.app import _starlette
from refserver.config import VTT_CHECKS, Settings
from refserver.middleware import (
    AuthMiddleware,
    CrashGuardMiddleware,
    LatencyMiddleware,
    RateLimitMiddleware,
    RequestLogMiddleware,
)
from refserver.responses import JSON, error_response
from refserver.state import ServerState
from refserver.vtt_metrics import VttMetrics, drop_inf_buckets

VERSION = "1.2.0"
VTT_ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/health"),
    ("GET", "/api/health/live"),
    ("GET", "/api/health/ready"),
    ("GET", "/api/metrics"),
    ("GET", "/api/metrics/prometheus"),
)
VTT_PROTECTED_PATHS = frozenset({"/api/metrics"})
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SLOW_HEALTH_SECONDS = 2.2
SLOW_METRICS_SECONDS = 1.2
# Faults that need the service unhealthy to show: the database check fails under them.
DATABASE_DOWN_FAULTS = (
    "vtt-ready-200-when-unhealthy",
    "vtt-live-fails-on-critical",
    "vtt-status-inconsistent",
    "vtt-unhealthy-200",
)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    message: str
    response_time_ms: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "pass" if self.passed else "fail"}
        if self.response_time_ms is not None:
            body["responseTime"] = self.response_time_ms
        body["message"] = self.message
        return body


def overall_status(checks: list[CheckResult]) -> str:
    """unhealthy if a critical check fails, degraded if another does, else healthy."""
    failing = [check.name for check in checks if not check.passed]
    if any(VTT_CHECKS.get(name, False) for name in failing):
        return "unhealthy"
    return "degraded" if failing else "healthy"


def ready(checks: list[CheckResult]) -> bool:
    """Readiness: no critical check fails (a degraded service still takes traffic)."""
    return not any(VTT_CHECKS.get(c.name, False) and not c.passed for c in checks)


def health_report(
    settings: Settings, checks: list[CheckResult], uptime_ms: int, now_ms: int
) -> tuple[int, dict[str, Any]]:
    """The /api/health status code and document, faults applied."""
    status = overall_status(checks)
    if settings.has("vtt-status-inconsistent"):
        status = "healthy"
    body: dict[str, Any] = {
        "status": status,
        "uptime": uptime_ms,
        "timestamp": now_ms,
        "version": VERSION,
        "checks": {check.name: check.as_json() for check in checks},
    }
    if settings.has("vtt-schema-missing-version"):
        del body["version"]
    code = 503 if status == "unhealthy" else 200
    if settings.has("vtt-unhealthy-200"):
        code = 200
    return code, body


def memory_usage_percent() -> float:
    """Resident memory of this process as a share of the machine's, in percent."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
        total_pages = os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, IndexError):
        return 0.0
    return round(100 * resident_pages / total_pages, 1) if total_pages > 0 else 0.0


class MetricsMiddleware:
    """Counts every answer (status as sent) and its duration; unknown paths as route "other"."""

    def __init__(self, app: ASGIApp, metrics: VttMetrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.enter()
        try:
            await self.app(scope, receive, capture)
        finally:
            self.metrics.leave()
            route = scope["path"] if scope["path"] in self.routes else "other"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


class VttHandlers:
    def __init__(self, state: ServerState, metrics: VttMetrics) -> None:
        self.state = state
        self.settings = state.settings
        self.metrics = metrics
        self.started = state.clock()

    def _uptime_ms(self) -> int:
        return int((self.state.clock() - self.started) * 1000)

    def _now_ms(self) -> int:
        return int(self.state.wall_clock() * 1000)

    def _database_down(self) -> bool:
        has = self.settings.has
        return "database" in self.settings.failing_checks or any(
            has(fault) for fault in DATABASE_DOWN_FAULTS
        )

    async def _database(self) -> CheckResult:
        """The database check with its round trip timed (slow under ``vtt-health-slow``)."""
        started = time.perf_counter()
        await asyncio.sleep(SLOW_HEALTH_SECONDS if self.settings.has("vtt-health-slow") else 0)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        if self._database_down():
            return CheckResult("database", False, "Database connection refused", elapsed_ms)
        return CheckResult("database", True, "Database connection healthy", elapsed_ms)

    def _memory(self) -> CheckResult:
        percent = memory_usage_percent()
        self.metrics.memory_percent.set(percent)
        if "memory" in self.settings.failing_checks:
            return CheckResult("memory", False, f"Memory usage: {max(percent, 96.0):.1f}%")
        return CheckResult("memory", True, f"Memory usage: {percent:.1f}%")

    async def _checks(self) -> list[CheckResult]:
        database = await self._database()
        self.metrics.database_status.set(1 if database.passed else 0)
        return [database, self._memory()]

    def _critical_failing(self) -> bool:
        """What live and ready consult: the last known database verdict, no round trip."""
        return self._database_down()

    async def health(self, request: Request) -> Response:
        checks = await self._checks()
        code, body = health_report(self.settings, checks, self._uptime_ms(), self._now_ms())
        return JSON(body, code)

    async def live(self, request: Request) -> Response:
        body = {"status": "alive", "uptime": self._uptime_ms()}
        if self.settings.has("vtt-live-fails-on-critical") and self._critical_failing():
            return JSON({"status": "not_alive", "uptime": self._uptime_ms()}, 503)
        return JSON(body)

    async def ready(self, request: Request) -> Response:
        checks = [
            CheckResult("database", not self._database_down(), ""),
            CheckResult("memory", "memory" not in self.settings.failing_checks, ""),
        ]
        statuses = {check.name: "pass" if check.passed else "fail" for check in checks}
        if ready(checks) or self.settings.has("vtt-ready-200-when-unhealthy"):
            return JSON({"status": "ready", "checks": statuses})
        return JSON({"status": "not_ready", "checks": statuses}, 503)

    def _document(self) -> dict[str, Any]:
        total, errors = self.metrics.totals()
        return {
            "timestamp": self._now_ms(),
            "uptime": self._uptime_ms(),
            "requests": {
                "total": total,
                "errors": errors,
                "in_flight": self.metrics.active,
            },
            "memory": {"usage_percent": memory_usage_percent()},
        }

    async def metrics_json(self, request: Request) -> Response:
        counts = self.state.endpoint_counts
        counts[("GET", "/api/metrics")] += 1
        seen = counts[("GET", "/api/metrics")]
        if self.settings.has("metrics-high-5xx") and seen % 3 != 0:
            return error_response(
                self.settings, 500, "internal_error", "metrics backend unavailable"
            )
        if self.settings.has("metrics-slow-p95") and seen % 2 == 0:
            await asyncio.sleep(SLOW_METRICS_SECONDS)
        return JSON(self._document())

    async def metrics_prometheus(self, request: Request) -> Response:
        has = self.settings.has
        if has("metrics-not-prometheus-text"):
            return JSON(self._document())
        text = self.metrics.exposition()
        if has("metrics-histogram-no-inf"):
            text = drop_inf_buckets(text)
        if has("metrics-counter-reset"):
            self.metrics.reset_requests()
        return Response(text, media_type=PROMETHEUS_CONTENT_TYPE)


def create_vtt_app(settings: Settings, state: ServerState | None = None) -> Starlette:
    """The VTT API; ``app.state.refserver`` is the ``ServerState``, ``app.state.metrics`` the
    ``VttMetrics`` whose registry the Prometheus endpoint renders."""
    state = state if state is not None else ServerState.create(settings)
    metrics = VttMetrics(register_histogram=not settings.has("metrics-missing-family"))
    h = VttHandlers(state, metrics)
    endpoints = {
        "/api/health": h.health,
        "/api/health/live": h.live,
        "/api/health/ready": h.ready,
        "/api/metrics": h.metrics_json,
        "/api/metrics/prometheus": h.metrics_prometheus,
    }
    routes = [Route(path, endpoints[path], methods=[method]) for method, path in VTT_ROUTES]
    middleware = [
        Middleware(RequestLogMiddleware, state),
        Middleware(MetricsMiddleware, metrics, frozenset(path for _, path in VTT_ROUTES)),
        Middleware(CrashGuardMiddleware),
        Middleware(LatencyMiddleware, state),
        Middleware(RateLimitMiddleware, state),
        Middleware(AuthMiddleware, state, VTT_PROTECTED_PATHS),
    ]
    app = _starlette(settings, routes, middleware, state)
    app.state.metrics = metrics
    return app


def create_vtt_manager_app(settings: Settings, state: ServerState | None = None) -> Starlette:
    """VTT has no manager: the second port answers a JSON 404 to everything."""
    state = state if state is not None else ServerState.create(settings)
    return _starlette(settings, [], [Middleware(CrashGuardMiddleware)], state)
