"""The run's settings: command-line options and the target profile, turned into one object.

Built once at the edge (`plugin.py` passes `vars(parsed_options)`), validated
here, so every later decision reads typed fields. `SettingsError` carries
the one-line message a user sees; no traceback reaches them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from loadtests.results import DEFAULT_PATH, without_credentials
from loadtests.stages import SHAPE_NAMES
from loadtests.thresholds import Policy
from probes.profile import Environment, Profile

DEFAULT_TOKEN_FILE = Path("jwt_token.txt")
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
# Scenes the operators validate and load when the profile lists none (the server's main scene).
DEFAULT_SCENES = ("res://vr_main.tscn",)


class SettingsError(ValueError):
    """Options that cannot run; the message is the whole one-line explanation."""


@dataclass(frozen=True)
class OpenModel:
    rate_per_s: float
    connections: int
    dispatchers: int | None  # None: one per worker process (or one when local)
    late_after_s: float
    drop_after_s: float


@dataclass(frozen=True)
class Settings:
    target: str | None
    environment: str
    profile_name: str
    manager_url: str | None
    token_file: Path | None
    scenes: tuple[str, ...]
    policy: Policy
    shape: str | None
    stages_path: Path | None
    time_scale: float
    open_model: OpenModel | None
    results_path: Path
    summary_path: Path | None
    bucket_s: float | None  # None: fit the stages (stages.bucket_width)
    think_scale: float
    read_only: bool
    allow_production: bool


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _positive(options: Mapping[str, Any], key: str, flag: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if value <= 0:
        raise SettingsError(f"{flag} must be > 0, got {value:g}")
    return float(value)


def _ratio(options: Mapping[str, Any], key: str, flag: str, default: float) -> float:
    value = options.get(key)
    if value is None:
        return default
    if not 0 <= value <= 1:
        raise SettingsError(f"{flag} must be within [0, 1], got {value:g}")
    return float(value)


def build(options: Mapping[str, Any], profile: Profile | None) -> Settings:
    """Settings from Locust's parsed options (as a dict) and the profile, if any.

    The profile is the probes' (`probes.profile`): one file describes a target
    for both. The load side reads its target, environment, SLA, scenes,
    manager URL and token file, and drives only the SpaceTime API.
    """
    if profile is not None and profile.kind != "spacetime":
        raise SettingsError(
            f"profile {profile.name} is of kind {profile.kind}: "
            "the load profiles drive the SpaceTime API only"
        )
    host = options.get("host") or (profile.target if profile else None)
    if host is not None and not str(host).startswith(("http://", "https://")):
        raise SettingsError(f"--host must be an http(s) URL, got {host!r}")
    target = without_credentials(host) if host else None

    environment = options.get("st_environment") or (profile.environment if profile else None)
    if environment is None:
        if target is not None and not is_loopback(target):
            raise SettingsError(
                "--st-profile or --st-environment is required for a target that is not loopback"
            )
        environment = "local"
    if environment not in ENVIRONMENTS:
        raise SettingsError(f"--st-environment must be one of {', '.join(ENVIRONMENTS)}")

    sla_ms = _positive(options, "st_sla_ms", "--st-sla-ms") or (
        profile.sla.threshold_ms if profile else 200.0
    )
    percentile = options.get("st_sla_percentile") or (profile.sla.percentile if profile else 95.0)
    if not 0 < percentile < 100:
        raise SettingsError(f"--st-sla-percentile must be in (0, 100), got {percentile:g}")
    policy = Policy(
        sla_ms=sla_ms,
        percentile=float(percentile),
        max_error_ratio=_ratio(options, "st_max_error_ratio", "--st-max-error-ratio", 0.01),
        max_rate_limited_ratio=_ratio(options, "st_max_429_ratio", "--st-max-429-ratio", 0.05),
        max_dropped_ratio=_ratio(options, "st_max_dropped_ratio", "--st-max-dropped-ratio", 0.01),
    )

    shape = options.get("st_shape")
    if shape is not None and shape not in SHAPE_NAMES and not options.get("st_stages"):
        raise SettingsError(f"--st-shape must be one of {', '.join(SHAPE_NAMES)}")

    open_model = None
    if (rate := _positive(options, "st_open_rate", "--st-open-rate")) is not None:
        if shape is not None:
            raise SettingsError("--st-open-rate and --st-shape are exclusive: pick one model")
        connections = int(options.get("st_open_connections") or 50)
        dispatchers = options.get("st_open_users")
        late_ms = options.get("st_open_late_ms")
        drop_s = options.get("st_open_drop_s")
        late_s = (late_ms if late_ms is not None else 10.0) / 1000.0
        drop_s = drop_s if drop_s is not None else 10.0
        if connections < 1 or (dispatchers is not None and dispatchers < 1):
            raise SettingsError("--st-open-connections and --st-open-users must be >= 1")
        if late_s < 0 or drop_s <= late_s:
            raise SettingsError("need 0 <= --st-open-late-ms and --st-open-drop-s above it")
        open_model = OpenModel(rate, connections, dispatchers, late_s, drop_s)

    manager_url = options.get("st_manager_url") or (profile.manager_url if profile else None)
    token_file = options.get("st_token_file") or (profile.token_file if profile else None)
    think_scale = options.get("st_think_scale")
    if think_scale is not None and think_scale < 0:
        raise SettingsError(f"--st-think-scale must be >= 0, got {think_scale:g}")
    stages = options.get("st_stages")
    summary = options.get("st_summary")
    return Settings(
        target=target,
        environment=environment,
        profile_name=profile.name if profile else "adhoc",
        manager_url=manager_url.rstrip("/") if manager_url else None,
        token_file=Path(token_file) if token_file else None,
        scenes=(profile.scenes if profile else ()) or DEFAULT_SCENES,
        policy=policy,
        shape=shape,
        stages_path=Path(stages) if stages else None,
        time_scale=_positive(options, "st_time_scale", "--st-time-scale") or 1.0,
        open_model=open_model,
        results_path=Path(options.get("st_results") or DEFAULT_PATH),
        summary_path=Path(summary) if summary else None,
        bucket_s=_positive(options, "st_bucket_s", "--st-bucket-s"),
        think_scale=1.0 if think_scale is None else float(think_scale),
        read_only=bool(options.get("st_read_only")),
        allow_production=bool(options.get("st_allow_production")),
    )


def refuse_production(settings: Settings) -> str | None:
    """The refusal line when the target is production and the run was not allowed there."""
    if settings.environment == "production" and not settings.allow_production:
        return (
            f"refusing to load {settings.target or 'the target'}: its profile says production; "
            "pass --st-allow-production to do it anyway"
        )
    return None


def token_path(settings: Settings, *, cwd: Path) -> Path:
    """Where the JWT is read from: the option or profile, else the server's jwt_token.txt."""
    if settings.token_file is not None:
        return settings.token_file
    return cwd / DEFAULT_TOKEN_FILE
