"""Response shapes of the contract, strict: a number sent as a string is a breach.

Extra fields are allowed (a newer server may add some); missing fields and
wrong types are not.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class SceneLoaded(_Shape):
    status: str = Field(pattern="^loaded$")
    scene_path: str


class SceneCurrent(_Shape):
    scene_path: str
    name: str
    loaded_at: float


class SceneValid(_Shape):
    valid: bool
    scene_path: str


class SceneList(_Shape):
    scenes: list[str]


class SceneReloaded(_Shape):
    status: str = Field(pattern="^reloaded$")
    scene_path: str


class HistoryEntry(_Shape):
    scene_path: str
    loaded_at: float
    duration_ms: float
    success: bool


class History(_Shape):
    history: list[HistoryEntry]


class Cache(_Shape):
    hit_rate: float = Field(ge=0, le=1)
    miss_rate: float = Field(ge=0, le=1)
    total_size_bytes: int = Field(ge=0)
    entry_count: int = Field(ge=0)
    eviction_count: int = Field(ge=0)


class Security(_Shape):
    rate_limit_violations: int = Field(ge=0)
    auth_failures: int = Field(ge=0)
    active_tokens: int = Field(ge=0)
    blocked_ips: list[str]


class Memory(_Shape):
    static_memory_usage: int = Field(ge=0)
    static_memory_max: int = Field(ge=0)
    dynamic_memory_usage: int = Field(ge=0)


class Engine(_Shape):
    fps: float = Field(ge=0)
    process_time: float = Field(ge=0)
    physics_process_time: float = Field(ge=0)
    objects_in_use: int = Field(ge=0)
    resources_in_use: int = Field(ge=0)
    nodes_in_use: int = Field(ge=0)


class Performance(_Shape):
    timestamp: float
    cache: Cache
    security: Security
    memory: Memory
    engine: Engine


class Webhooks(_Shape):
    webhooks: list[Any]


class Jobs(_Shape):
    jobs: list[Any]
    queue_length: int = Field(ge=0)


class Service(_Shape):
    service_name: str
    port: int = Field(ge=0, le=65535)
    state: int = Field(ge=0, le=3)  # DISCONNECTED, CONNECTING, CONNECTED, CIRCUIT_BREAKER_OPEN
    retry_count: int = Field(ge=0)
    last_activity: float


class Status(_Shape):
    debug_adapter: Service
    language_server: Service
    overall_ready: bool


class GodotProcess(_Shape):
    running: bool
    pid: int | None


class GodotApi(_Shape):
    reachable: bool


class SceneState(_Shape):
    loaded: bool
    name: str | None


class Player(_Shape):
    spawned: bool


class Health(_Shape):
    server: str
    timestamp: str
    godot_process: GodotProcess
    godot_api: GodotApi
    scene: SceneState
    player: Player
    overall_healthy: bool
    blocking_issues: list[str]


class ErrorBody(_Shape):
    error: str
    message: str


RESPONSES: dict[tuple[str, str], type[_Shape]] = {
    ("POST", "/scene"): SceneLoaded,
    ("GET", "/scene"): SceneCurrent,
    ("PUT", "/scene"): SceneValid,
    ("GET", "/scenes"): SceneList,
    ("POST", "/scene/reload"): SceneReloaded,
    ("GET", "/scene/history"): History,
    ("GET", "/performance"): Performance,
    ("GET", "/webhooks"): Webhooks,
    ("GET", "/jobs"): Jobs,
    ("GET", "/status"): Status,
    ("GET", "/health"): Health,
}


# The VTT health API (seed 004; docs/vtt-contract.md) --------------------------------------


class VttCheck(_Shape):
    status: Literal["pass", "fail"]
    # Seed 004's own example omits responseTime for the memory check.
    responseTime: float | None = Field(default=None, ge=0)  # the wire name
    message: str


class VttHealth(_Shape):
    status: Literal["healthy", "degraded", "unhealthy"]
    uptime: float = Field(ge=0)
    timestamp: float = Field(ge=0)
    version: str
    checks: dict[str, VttCheck]


class VttLive(_Shape):
    status: str


class VttReady(_Shape):
    status: str


class VttRequests(_Shape):
    total: int = Field(ge=0)
    errors: int = Field(ge=0)


class VttMetrics(_Shape):
    timestamp: float = Field(ge=0)
    uptime: float = Field(ge=0)
    requests: VttRequests


VTT_RESPONSES: dict[tuple[str, str], type[_Shape]] = {
    ("GET", "/api/health"): VttHealth,
    ("GET", "/api/health/live"): VttLive,
    ("GET", "/api/health/ready"): VttReady,
    ("GET", "/api/metrics"): VttMetrics,
}

# The contract family's registry: JSON shapes per profile kind, per (method, path).
# An endpoint of the profile without an entry is skipped by the contract family
# (a text endpoint such as /api/metrics/prometheus is the metrics family's).
RESPONSES_BY_KIND: dict[str, dict[tuple[str, str], type[_Shape]]] = {
    "spacetime": RESPONSES,
    "vtt": VTT_RESPONSES,
    "generic": {},
}
# Kinds whose errors are {"error": str, "message": str} JSON.
ERROR_BODY_KINDS = frozenset({"spacetime", "vtt"})


def violations(shape: type[_Shape], data: Any) -> str | None:
    """None when `data` fits; otherwise the first breach as `field: problem`."""
    try:
        shape.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(body)"
        extra = f" ({len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        return f"{where}: {first['msg']}{extra}"
    return None
