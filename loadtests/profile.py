"""The few target-profile fields the load profiles need, read without the probes' loader.

The probes own the full profile schema (`probes/profile.py`); the load side
reads the same YAML with this small parser so a locustfile never imports the
probe suite (or pydantic) and so fields it does not use never break it.
Unknown keys are ignored; the keys read here are validated and any problem is
one `ProfileError` line naming the file, the field and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENVIRONMENTS = ("local", "staging", "production")


class ProfileError(ValueError):
    """A profile that cannot be used; the message is the whole one-line explanation."""


@dataclass(frozen=True)
class RateLimit:
    rate_per_second: float
    burst: int


@dataclass(frozen=True)
class TargetProfile:
    """What a target promises: where it is, which environment, its SLA and limits."""

    name: str
    environment: str
    target: str | None = None
    manager_url: str | None = None
    token_file: str | None = None
    rate_limit: RateLimit | None = None
    sla_threshold_ms: float = 200.0
    sla_percentile: float = 95.0
    scenes: tuple[str, ...] = ("res://vr_main.tscn",)

    @property
    def production(self) -> bool:
        return self.environment == "production"


def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], origin: str) -> Any:
    value = data.get(key)
    if value is None:
        return None
    # bool is an int subclass; a YAML `true` where a number is due is a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ProfileError(f"{origin}: {key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ProfileError(f"{origin}: {key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "a number", float: "a number", str: "a string", dict: "a mapping", list: "a list"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _url(data: dict[str, Any], key: str, origin: str) -> str | None:
    value = _field(data, key, str, origin)
    if value is None:
        return None
    if not value.startswith(("http://", "https://")) or "@" in value or " " in value:
        raise ProfileError(f"{origin}: {key}: expected an http(s) URL without credentials")
    return value.rstrip("/")


def from_dict(data: object, *, origin: str = "<profile>") -> TargetProfile:
    """Validate the fields the load profiles use; ignore the rest."""
    if not isinstance(data, dict):
        raise ProfileError(f"{origin}: expected a mapping at the top level")
    name = _field(data, "name", str, origin)
    if not name:
        raise ProfileError(f"{origin}: name: a non-empty string is required")
    environment = _field(data, "environment", str, origin)
    if environment not in ENVIRONMENTS:
        raise ProfileError(f"{origin}: environment: expected one of {', '.join(ENVIRONMENTS)}")

    rate_limit = None
    limit = _field(data, "rate_limit", dict, origin)
    if limit is not None:
        rate = _field(limit, "rate_per_second", (int, float), f"{origin}: rate_limit")
        burst = _field(limit, "burst", int, f"{origin}: rate_limit")
        if rate is None or rate <= 0 or burst is None or burst < 1:
            raise ProfileError(
                f"{origin}: rate_limit: expected rate_per_second > 0 and an integer burst >= 1"
            )
        rate_limit = RateLimit(float(rate), burst)

    sla = _field(data, "sla", dict, origin) or {}
    threshold = _field(sla, "threshold_ms", (int, float), f"{origin}: sla")
    percentile = _field(sla, "percentile", (int, float), f"{origin}: sla")
    if threshold is not None and threshold <= 0:
        raise ProfileError(f"{origin}: sla: threshold_ms: expected a number > 0")
    if percentile is not None and not 0 < percentile < 100:
        raise ProfileError(f"{origin}: sla: percentile: expected a number between 0 and 100")

    scenes = _field(data, "scenes", list, origin)
    if scenes is not None and (
        not scenes or not all(isinstance(s, str) and s.startswith("res://") for s in scenes)
    ):
        raise ProfileError(f"{origin}: scenes: expected a non-empty list of res:// paths")

    return TargetProfile(
        name=name,
        environment=environment,
        target=_url(data, "target", origin),
        manager_url=_url(data, "manager_url", origin),
        token_file=_field(data, "token_file", str, origin),
        rate_limit=rate_limit,
        sla_threshold_ms=float(threshold if threshold is not None else 200.0),
        sla_percentile=float(percentile if percentile is not None else 95.0),
        scenes=tuple(scenes) if scenes else TargetProfile.scenes,
    )


def from_str(text: str, *, origin: str = "<profile>") -> TargetProfile:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ProfileError(f"{origin}: {where}: {problem}") from None
    return from_dict(data, origin=origin)


def from_path(path: str | Path) -> TargetProfile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProfileError(f"{path}: cannot read profile: {reason}") from None
    return from_str(text, origin=str(path))
