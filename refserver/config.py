"""Settings: one frozen object built from the command line, the environment and defaults.

Options are parsed into typed values at the edge (the converters below are
used both as argparse ``type=`` functions and for environment variables), so
the app never sees a string where it expects a number. A bad value is one
``ConfigError`` naming the option or variable, which the CLI prints on one
line before exiting with status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from refserver import scenepath
from refserver.faults import FAULTS, MODES, UnknownFault, parse_faults
from refserver.servicetime import ServiceTime

DEFAULT_SCENES: tuple[str, ...] = (
    "res://vr_main.tscn",
    "res://scenes/lobby.tscn",
    "res://scenes/levels/level_01.tscn",
)

# The VTT mode's health checks (seed 004's example): name -> critical. A failing
# critical check makes the service unhealthy and not ready; any other, degraded.
VTT_CHECKS: dict[str, bool] = {"database": True, "memory": False}

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting that cannot be used; the message is one line and names its source."""


@dataclass(frozen=True)
class Settings:
    """Everything the two apps and the runner need, validated once.

    Durations carry their unit in the name. ``faults`` holds registered names
    only; ask ``has()`` rather than testing membership so that a misspelt
    fault in the code fails loudly instead of never firing.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    manager_port: int = 8090
    token_file: Path = Path("jwt_token.txt")
    secret_file: Path | None = None
    # None: the issuer-less mode (``--no-issuer``): no iss minted, none checked.
    issuer: str | None = "spacetime"
    # Minted into ``aud`` and required when set (``--audience``).
    audience: str | None = None
    token_ttl_seconds: int = 86400
    # A token whose exp - iat exceeds this is refused (``--max-token-lifetime``).
    max_token_lifetime_seconds: float | None = None
    rate_per_second: float = 50.0
    burst: int = 50
    trusted_proxies: frozenset[str] = frozenset()
    scenes: tuple[str, ...] = DEFAULT_SCENES
    latency_ms: float = 0.0
    # Conforming service time (refserver/servicetime.py): jitter around the base,
    # a random share of slow answers, and the seed of that randomness (None: random).
    latency_jitter_ms: float = 0.0
    latency_tail_ratio: float = 0.0
    latency_tail_ms: float | None = None
    latency_seed: int | None = None
    faults: frozenset[str] = frozenset()
    request_log: Path | None = None
    ready_file: Path | None = None
    stall_period_seconds: float = 3.0
    stall_seconds: float = 1.0
    # Which contract the API port serves: the SpaceTime HttpApiServer or the VTT health API.
    mode: str = "spacetime"
    # VTT mode: health checks that report "fail" (a simulated dependency outage, not a fault).
    failing_checks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULTS))
        if unknown:
            raise ConfigError(f"unknown fault {unknown[0]!r}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r} (valid: {', '.join(MODES)})")
        misplaced = sorted(f for f in self.faults if FAULTS[f].mode != self.mode)
        if misplaced:
            fault = FAULTS[misplaced[0]]
            raise ConfigError(f"fault {fault.name!r} applies to --mode {fault.mode}")
        unknown_checks = sorted(set(self.failing_checks) - set(VTT_CHECKS))
        if unknown_checks:
            raise ConfigError(
                f"unknown health check {unknown_checks[0]!r} (valid: {', '.join(VTT_CHECKS)})"
            )
        if self.failing_checks and self.mode != "vtt":
            raise ConfigError("--vtt-failing-check applies to --mode vtt")
        if not self.scenes:
            raise ConfigError("at least one --scene is required")
        for scene in self.scenes:
            verdict = scenepath.check(scene)
            if not verdict.valid or verdict.decoded != scene:
                raise ConfigError(f"--scene {scene!r} is not a plain valid res:// scene path")
        if len(set(self.scenes)) != len(self.scenes):
            raise ConfigError("--scene values must be distinct")
        if self.stall_seconds >= self.stall_period_seconds:
            raise ConfigError("REFSERVER_STALL_S must be shorter than REFSERVER_STALL_PERIOD_S")
        if self.latency_tail_ratio > 0 and self.latency_tail_ms is None:
            raise ConfigError("--latency-tail-ratio needs --latency-tail-ms (the tail's delay)")
        if not 0 <= self.latency_tail_ratio <= 1:
            raise ConfigError(
                f"--latency-tail-ratio must be from 0 to 1: {self.latency_tail_ratio}"
            )
        limit = self.max_token_lifetime_seconds
        if limit is not None and self.token_ttl_seconds > limit:
            raise ConfigError(
                f"--token-ttl {self.token_ttl_seconds} exceeds --max-token-lifetime {limit:g}:"
                " the server would refuse its own token"
            )
        # A fault that loosens a claim rule the server does not have would start
        # a conforming server under a fault's name; refuse it like a typo.
        for name, missing, needs in (
            ("auth-ignore-issuer", self.issuer is None, "an issuer (not --no-issuer)"),
            ("auth-ignore-audience", self.audience is None, "--audience"),
            ("auth-ignore-lifetime", limit is None, "--max-token-lifetime"),
        ):
            if name in self.faults and missing:
                raise ConfigError(f"fault {name!r} needs {needs}: there is no rule to ignore")

    def service_time(self) -> ServiceTime:
        """The conforming delay model of every answer (before any latency fault)."""
        return ServiceTime(
            base_ms=self.latency_ms,
            jitter_ms=self.latency_jitter_ms,
            tail_ratio=self.latency_tail_ratio,
            tail_ms=self.latency_tail_ms or 0.0,
        )

    def has(self, fault: str) -> bool:
        """Whether ``fault`` is active; an unregistered name is a programming error."""
        if fault not in FAULTS:
            raise KeyError(f"not a registered fault: {fault!r}")
        return fault in self.faults


# --- converters: used as argparse ``type=`` and for environment variables ---


def port_number(text: str) -> int:
    """A TCP port, 0 meaning "pick a free one"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {value}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative finite number: {text!r}")
    return value


def ip_address(text: str) -> str:
    """A peer address as uvicorn reports it (``request.client.host``), normalised."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def ratio(text: str) -> float:
    """A share in [0, 1] (``*_ratio``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1: {text!r}")
    return value


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def boolean(text: str) -> bool:
    """An environment switch: 1/true/yes/on or 0/false/no/off, any case."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"not a boolean (1/0, true/false, yes/no): {text!r}")


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def mode_name(text: str) -> str:
    if text not in MODES:
        raise argparse.ArgumentTypeError(f"not a mode: {text!r} (valid: {', '.join(MODES)})")
    return text


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _pick(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    key: str,
    env_var: str,
    convert: Callable[[str], T],
    default: T,
) -> T:
    """CLI value if given (already converted by argparse), else the env var, else default."""
    value = cli.get(key)
    if value is not None:
        return value
    raw = environ.get(env_var)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{env_var}: {exc}") from None


def _pick_list(
    cli: Mapping[str, Any],
    environ: Mapping[str, str],
    key: str,
    env_var: str,
    convert: Callable[[str], str],
) -> list[str] | None:
    values: Sequence[str] | None = cli.get(key)
    if values:
        return list(values)
    raw = environ.get(env_var)
    if not raw:
        return None
    try:
        return [convert(item) for item in _split_list(raw)]
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"{env_var}: {exc}") from None


def _pick_issuer(cli: Mapping[str, Any], environ: Mapping[str, str], default: str) -> str | None:
    """``--issuer`` / ``--no-issuer`` (exclusive on the command line, which wins), then env.

    In the environment, ``REFSERVER_NO_ISSUER`` true beside a ``REFSERVER_ISSUER``
    is a contradiction, not a precedence question: an error.
    """
    if cli.get("issuer") is not None:
        return str(cli["issuer"])
    if cli.get("no_issuer"):
        return None
    no_issuer = _pick({}, environ, "", "REFSERVER_NO_ISSUER", boolean, False)
    if no_issuer:
        if environ.get("REFSERVER_ISSUER"):
            raise ConfigError("REFSERVER_NO_ISSUER and REFSERVER_ISSUER exclude each other")
        return None
    return _pick({}, environ, "", "REFSERVER_ISSUER", non_empty, default)


def settings_from(cli: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Merge parsed CLI values (``None`` when not given) over the environment over defaults.

    Lists given on the command line replace the environment's, except faults:
    ``--fault`` adds to ``REFSERVER_FAULTS`` so a harness can set some faults
    in the environment and a caller add more on the command line.
    """
    d = Settings()
    fault_names = list(cli.get("fault") or []) + _split_list(environ.get("REFSERVER_FAULTS", ""))
    try:
        faults = parse_faults(fault_names)
    except UnknownFault as exc:
        raise ConfigError(str(exc)) from None
    scenes = _pick_list(cli, environ, "scene", "REFSERVER_SCENES", non_empty)
    proxies = _pick_list(cli, environ, "trusted_proxy", "REFSERVER_TRUSTED_PROXY", ip_address)
    secret_file = _pick(cli, environ, "secret_file", "REFSERVER_SECRET_FILE", Path, None)
    request_log = _pick(cli, environ, "request_log", "REFSERVER_REQUEST_LOG", Path, None)
    ready_file = cli.get("ready_file")
    failing = _pick_list(
        cli, environ, "vtt_failing_check", "REFSERVER_VTT_FAILING_CHECKS", non_empty
    )
    max_lifetime = _pick(
        cli, environ, "max_token_lifetime", "REFSERVER_MAX_TOKEN_LIFETIME", positive_float, None
    )
    # Without an explicit --token-ttl, the minted token fits the stated maximum
    # (whole seconds, at least 1: exp and iat are integers).
    default_ttl = d.token_ttl_seconds
    if max_lifetime is not None:
        default_ttl = max(1, min(default_ttl, int(max_lifetime)))
    return Settings(
        host=_pick(cli, environ, "host", "REFSERVER_HOST", non_empty, d.host),
        port=_pick(cli, environ, "port", "REFSERVER_PORT", port_number, d.port),
        manager_port=_pick(
            cli, environ, "manager_port", "REFSERVER_MANAGER_PORT", port_number, d.manager_port
        ),
        token_file=_pick(cli, environ, "token_file", "REFSERVER_TOKEN_FILE", Path, d.token_file),
        secret_file=secret_file,
        issuer=_pick_issuer(cli, environ, d.issuer or "spacetime"),
        audience=_pick(cli, environ, "audience", "REFSERVER_AUDIENCE", non_empty, None),
        token_ttl_seconds=_pick(
            cli, environ, "token_ttl", "REFSERVER_TOKEN_TTL", positive_int, default_ttl
        ),
        max_token_lifetime_seconds=max_lifetime,
        rate_per_second=_pick(
            cli, environ, "rate", "REFSERVER_RATE", positive_float, d.rate_per_second
        ),
        burst=_pick(cli, environ, "burst", "REFSERVER_BURST", positive_int, d.burst),
        trusted_proxies=frozenset(proxies or ()),
        scenes=tuple(scenes) if scenes else d.scenes,
        latency_ms=_pick(
            cli, environ, "latency_ms", "REFSERVER_LATENCY_MS", non_negative_float, d.latency_ms
        ),
        latency_jitter_ms=_pick(
            cli,
            environ,
            "latency_jitter_ms",
            "REFSERVER_LATENCY_JITTER_MS",
            non_negative_float,
            d.latency_jitter_ms,
        ),
        latency_tail_ratio=_pick(
            cli, environ, "latency_tail_ratio", "REFSERVER_LATENCY_TAIL_RATIO", ratio, 0.0
        ),
        latency_tail_ms=_pick(
            cli, environ, "latency_tail_ms", "REFSERVER_LATENCY_TAIL_MS", non_negative_float, None
        ),
        latency_seed=_pick(
            cli, environ, "latency_seed", "REFSERVER_LATENCY_SEED", non_negative_int, None
        ),
        faults=faults,
        request_log=request_log,
        ready_file=Path(ready_file) if ready_file else None,
        stall_period_seconds=_pick(
            {}, environ, "", "REFSERVER_STALL_PERIOD_S", positive_float, d.stall_period_seconds
        ),
        stall_seconds=_pick({}, environ, "", "REFSERVER_STALL_S", positive_float, d.stall_seconds),
        mode=_pick(cli, environ, "mode", "REFSERVER_MODE", mode_name, d.mode),
        failing_checks=frozenset(failing or ()),
    )
