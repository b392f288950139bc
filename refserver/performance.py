"""The monitoring documents: ``/performance``, ``/status`` and the manager's ``/health``.

Pure functions of the time, the counters and the settings: no clock, no I/O.
Their shapes are the seeds' examples (000 "API Reference" for
``/performance``; 001 "Health Check Endpoints" for ``/health`` and
``/status``), with healthy values; the performance and health faults change
one value or one field each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from refserver.config import Settings

GIB = 1024**3
CONNECTED = 2


@dataclass
class SecurityCounters:
    """What ``/performance``'s ``security`` section reports; the middleware increments them."""

    rate_limit_violations: int = 0
    auth_failures: int = 0


def performance_document(
    settings: Settings, now: float, counters: SecurityCounters, active_tokens: int = 1
) -> dict[str, Any]:
    """The seed's ``/performance`` document with healthy values (fps 90, warm cache)."""
    hit_rate, miss_rate = (0.35, 0.65) if settings.has("perf-cache-cold") else (0.85, 0.15)
    cache: dict[str, Any] = {
        "hit_rate": hit_rate,
        "miss_rate": miss_rate,
        "total_size_bytes": 1048576,
        "entry_count": 42,
        "eviction_count": 5,
    }
    static_usage, static_max = 524288000, 536870912
    if settings.has("perf-high-memory"):
        static_usage, static_max = 11 * GIB, 16 * GIB
    if settings.has("perf-memory-exhaustion"):
        static_usage, static_max = int(12.5 * GIB), 16 * GIB
    fps = 90.0
    if settings.has("perf-vr-comfort-fps"):
        fps = 84.0
    if settings.has("perf-low-fps"):
        fps = 42.0
    engine: dict[str, Any] = {
        "fps": fps,
        "process_time": 0.008,
        "physics_process_time": 0.011,
        "objects_in_use": 1234,
        "resources_in_use": 567,
        "nodes_in_use": 890,
    }
    if settings.has("contract-missing-field"):
        del engine["nodes_in_use"]
        del cache["eviction_count"]
    return {
        "timestamp": now,
        "cache": cache,
        "security": {
            "rate_limit_violations": counters.rate_limit_violations,
            "auth_failures": counters.auth_failures,
            "active_tokens": active_tokens,
            "blocked_ips": [],
        },
        "memory": {
            "static_memory_usage": static_usage,
            "static_memory_max": static_max,
            "dynamic_memory_usage": 1048576,
        },
        "engine": engine,
    }


def status_document(settings: Settings, now: float) -> dict[str, Any]:
    """``GET /status``: both editor services connected (state 2), ready."""

    def service(name: str, port: int) -> dict[str, Any]:
        return {
            "service_name": name,
            "port": port,
            "state": CONNECTED,
            "retry_count": 0,
            "last_activity": now,
        }

    document: dict[str, Any] = {
        "debug_adapter": service("Debug Adapter", 6006),
        "language_server": service("Language Server", 6005),
        "overall_ready": True,
    }
    if settings.has("health-status-bad-state"):
        document["language_server"]["state"] = 7
    if settings.has("health-status-missing-service"):
        del document["language_server"]
    return document


def health_document(
    settings: Settings, timestamp_iso: str, pid: int, scene_name: str
) -> tuple[int, dict[str, Any]]:
    """The manager's ``GET /health``: (status code, body).

    Conforming, everything is up: 200 and no issues. The health faults make
    the status code and the body disagree, each in its own way.
    """
    unhealthy = settings.has("health-200-when-unhealthy") or settings.has("health-503-no-issues")
    issues = ["player not spawned"] if settings.has("health-200-when-unhealthy") else []
    body: dict[str, Any] = {
        "server": "degraded" if unhealthy else "healthy",
        "timestamp": timestamp_iso,
        "godot_process": {"running": True, "pid": pid},
        "godot_api": {"reachable": True},
        "scene": {"loaded": True, "name": scene_name},
        "player": {"spawned": not unhealthy},
        "overall_healthy": not unhealthy,
        "blocking_issues": issues,
    }
    status = 200
    if settings.has("health-503-no-issues") or settings.has("health-healthy-503"):
        status = 503
    return status, body
