"""Target profiles: what a target is meant to do, so probes judge it by its own promises.

Loaded in layers (`from_path -> from_str -> from_dict`), validated once by
pydantic; any error becomes one `ProfileError` line naming the file, the
field and what was expected.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BUILTIN_PROFILES = ("spacetime", "embedded")

Environment = Literal["local", "staging", "production"]
Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
MUTATING_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class ProfileError(ValueError):
    """A profile that cannot be used; the message is the whole one-line explanation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    rate_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)
    # How far the first 429 may land from where the bucket says it is due, as a
    # share of burst; at least 2 requests of slack either way.
    tolerance_ratio: float = Field(default=0.1, ge=0, le=1)
    # Share of the limit the rest of the suite may use, so no probe meets a collateral 429.
    pace_ratio: float = Field(default=0.8, gt=0, le=1)


class Sla(_Strict):
    threshold_ms: float = Field(default=200.0, gt=0)
    percentile: float = Field(default=95.0, gt=0, lt=100)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    min_samples: int = Field(default=20, ge=5)
    max_samples: int = Field(default=120, ge=5)
    batch: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> Sla:
        if self.max_samples < self.min_samples:
            raise ValueError("max_samples must be >= min_samples")
        return self


class Endpoint(_Strict):
    method: Method
    path: str = Field(pattern=r"^/[A-Za-z0-9_/\-]*$")
    auth: bool = True
    # JSON body to send; string values have "{scene}" replaced by a known scene.
    body: dict[str, str] | None = None

    def body_for(self, scene: str) -> dict[str, str] | None:
        if self.body is None:
            return None
        return {key: value.replace("{scene}", scene) for key, value in self.body.items()}

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING_METHODS

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


class Performance(_Strict):
    fail_at: Literal["medium", "high", "critical"] = "medium"


CONTRACT_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(method="POST", path="/scene", body={"scene_path": "{scene}"}),
    Endpoint(method="GET", path="/scene"),
    Endpoint(method="PUT", path="/scene", body={"scene_path": "{scene}"}),
    Endpoint(method="GET", path="/scenes"),
    Endpoint(method="POST", path="/scene/reload"),
    Endpoint(method="GET", path="/scene/history"),
    Endpoint(method="GET", path="/performance"),
    Endpoint(method="GET", path="/webhooks"),
    Endpoint(method="GET", path="/jobs"),
    Endpoint(method="GET", path="/status", auth=False),
)


class Profile(_Strict):
    name: str = Field(min_length=1)
    environment: Environment
    target: str | None = Field(default=None, pattern=r"^https?://[^\s@]+$")
    manager_url: str | None = Field(default=None, pattern=r"^https?://[^\s@]+$")
    token_file: str | None = None
    rate_limit: RateLimit
    sla: Sla = Sla()
    scenes: tuple[str, ...] = Field(min_length=1)
    endpoints: tuple[Endpoint, ...] = CONTRACT_ENDPOINTS
    performance: Performance = Performance()
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def endpoint(self, method: str, path: str) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.method == method and endpoint.path == path:
                return endpoint
        return None


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"{field}: {first['msg']}"


def from_dict(data: object, *, origin: str = "<profile>") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(
            f"{origin}: expected a mapping at the top level, got {type(data).__name__}"
        )
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{origin}: {_describe(exc)}") from None


def from_str(text: str, *, origin: str = "<profile>") -> Profile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ProfileError(f"{origin}: {where}: {problem}") from None
    return from_dict(data, origin=origin)


def from_path(path: str | Path) -> Profile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProfileError(f"{path}: cannot read profile: {reason}") from None
    return from_str(text, origin=str(path))


def builtin(name: str) -> Profile:
    if name not in BUILTIN_PROFILES:
        raise ProfileError(
            f"unknown built-in profile {name!r}; choose one of {', '.join(BUILTIN_PROFILES)}"
        )
    text = resources.files("probes.profiles").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    return from_str(text, origin=f"built-in profile {name}")


def load(spec: str) -> Profile:
    """A path to a YAML file, or the name of a built-in profile."""
    if spec in BUILTIN_PROFILES and not Path(spec).exists():
        return builtin(spec)
    return from_path(spec)
