"""The probe run's options as given, and the steps that check them and make the `Run`.

pytest's parser hands the plugin strings: an environment default such as
`ST_EXAMPLES=abc` must not crash `pytest --help` at option-definition time, so
nothing is parsed there. `Options` holds those strings unchecked; `settle` turns
them into `Settings` (the profile loaded, every number parsed at the edge, a bad
one told in one line naming its option); `target_source` says where the probes
point, a real `Target` or the `EmbeddedSpec` of the reference server to start;
`make_run` puts the pieces together. The plugin's `pytest_configure` only calls
these, starts the embedded server and registers hooks, so unit tests build a run
from an `Options` without pytest (tests/probes/test_options.py).

The only I/O here is reading what the options name (the profile, the token and
secret files, the CA bundle); the clock that picks the rotation slot is injected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from probes import profile as profiles
from probes.client import one_line, ssl_context
from probes.run import Run
from probes.target import EmbeddedServer, Target, TargetError, jwt_problem, read_secret_file

DEFAULT_RESULTS = Path("reports") / "results.jsonl"
SLOT_PERIOD_S = 300  # the schedule docs/gitlab.md sets up: a run every 5 minutes


@dataclass(frozen=True)
class Options:
    """The `--st-*` options (or their `ST_*` environment defaults), as text.

    Field names are the options' pytest `dest`s without the `st_` prefix, so
    `from_config` needs no table.
    """

    target: str | None = None
    manager_url: str | None = None
    token_file: str | None = None
    profile: str | None = None
    secret_file: str | None = None
    allow_mutating: bool = False
    results: str | None = None
    examples: str = "1"
    budget: str | None = None
    slot: str | None = None
    timeout: str | None = None
    ca_file: str | None = None
    tls_min_days: str = "30"
    tls_metrics: str | None = None
    http_metrics: str | None = None
    embedded_fault: tuple[str, ...] = ()
    request_log: str | None = None

    @classmethod
    def from_config(cls, getoption: Callable[[str], Any]) -> Options:
        """From pytest's `config.getoption` (or anything answering by `dest`)."""
        values = {f.name: getoption(f"st_{f.name}") for f in dataclasses.fields(cls)}
        values["embedded_fault"] = tuple(values["embedded_fault"] or ())
        return cls(**values)


@dataclass(frozen=True)
class Settings:
    """The options checked: everything the `Run` is made of but the target."""

    profile: profiles.Profile
    results_path: Path
    examples: int
    tls_min_days: float
    ca_file: str | None
    budget_s: float | None
    slot: int
    allow_mutating: bool
    tls_metrics_path: Path
    http_metrics_path: Path


@dataclass(frozen=True)
class EmbeddedSpec:
    """The reference server to start when no target is given (`EmbeddedServer`'s arguments)."""

    rate_per_second: float
    burst: int
    scenes: tuple[str, ...]
    mode: str
    faults: tuple[str, ...]
    request_log: Path | None
    claims: Mapping[str, str | float | None]

    def server(self) -> EmbeddedServer:
        """The server, not yet started (it makes its private directory)."""
        return EmbeddedServer(
            rate_per_second=self.rate_per_second,
            burst=self.burst,
            scenes=self.scenes,
            mode=self.mode,
            faults=self.faults,
            request_log=self.request_log,
            claims=self.claims,
        )


def number(option: str, text: str, *, low: float, high: float) -> float:
    """An option's number, parsed at the edge: a bad one is one line naming the option."""
    try:
        value = float(text)
    except ValueError:
        raise profiles.ProfileError(f"{option}: {text!r} is not a number") from None
    if not low <= value <= high:  # NaN fails this too
        raise profiles.ProfileError(f"{option}: {text} is outside {low:g} to {high:g}")
    return value


def whole(option: str, text: str, *, low: float, high: float) -> int:
    value = number(option, text, low=low, high=high)
    if value != int(value):
        raise profiles.ProfileError(f"{option}: expected a whole number")
    return int(value)


def slot_of(text: str | None, now: Callable[[], float]) -> int:
    """--st-slot, else the clock's 5-minute period: successive runs, successive slices."""
    if text is None:
        return int(now() // SLOT_PERIOD_S)
    return whole("--st-slot", text, low=0, high=2**63)


def load_profile(options: Options) -> profiles.Profile:
    """The named or built-in profile (`embedded` without a target), with --st-timeout."""
    spec = options.profile
    if spec is None:
        spec = "spacetime" if options.target else "embedded"
    try:
        profile = profiles.load(spec)
    except RecursionError:  # PyYAML's composer recurses once per nesting level
        raise profiles.ProfileError(f"{spec}: nested too deeply to be a profile") from None
    except profiles.ProfileError:
        raise
    except Exception as exc:  # a loader bug must still reach the user as one line
        raise profiles.ProfileError(
            f"{spec}: cannot load the profile ({type(exc).__name__}: {exc})"
        ) from None
    if options.timeout is not None:
        seconds = number("--st-timeout", options.timeout, low=0.0, high=300.0)
        if seconds <= 0:
            raise profiles.ProfileError("--st-timeout must be more than 0 seconds")
        profile = profile.model_copy(update={"request_timeout_s": seconds})
    return profile


def checked_ca_file(path: str | None) -> str | None:
    if path:
        try:
            ssl_context(path)
        except ValueError as exc:
            raise TargetError(f"--st-ca-file: {exc}") from None
    return path or None


def settle(options: Options, *, now: Callable[[], float]) -> Settings:
    """Every option but the target checked; raises ProfileError or TargetError (one line)."""
    profile = load_profile(options)
    results = Path(options.results) if options.results else DEFAULT_RESULTS
    examples = whole("--st-examples", options.examples, low=1, high=10**6)
    min_days = number("--st-tls-min-days", options.tls_min_days, low=0.0, high=3650.0)
    ca_file = checked_ca_file(options.ca_file)
    budget = (
        None if options.budget is None
        else number("--st-budget", options.budget, low=1.0, high=86400.0)
    )  # fmt: skip
    slot = slot_of(options.slot, now)
    return Settings(
        profile=profile,
        results_path=results,
        examples=examples,
        tls_min_days=min_days,
        ca_file=ca_file,
        budget_s=budget,
        slot=slot,
        allow_mutating=options.allow_mutating,
        tls_metrics_path=(
            Path(options.tls_metrics) if options.tls_metrics else results.parent / "tls.prom"
        ),
        http_metrics_path=(
            Path(options.http_metrics) if options.http_metrics else results.parent / "http.prom"
        ),
    )


def base_url(option: str, text: str) -> str:
    """An http(s) base URL without credentials (they would be written to every report)."""
    try:
        url = httpx.URL(text.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise TargetError(f"{option}: not a URL ({one_line(str(exc), 120)})") from None
    if url.scheme not in {"http", "https"} or not url.host:
        raise TargetError(f"{option}: {one_line(text, 120)!r} is not an http:// or https:// URL")
    if url.userinfo:
        raise TargetError(
            f"{option}: credentials in the URL would be written to every report; "
            "give the token with --st-token-file"
        )
    if url.query or url.fragment:
        raise TargetError(f"{option}: a base URL takes no query or fragment")
    return str(url).rstrip("/")


def target_source(options: Options, profile: profiles.Profile) -> Target | EmbeddedSpec:
    """A real target (its token and secret read and checked), or the embedded server's spec."""
    url = options.target or profile.target
    if url is None:
        return EmbeddedSpec(
            rate_per_second=profile.rate_limit.rate_per_second,
            burst=profile.rate_limit.burst,
            scenes=profile.scenes,
            mode=profile.kind,
            faults=options.embedded_fault,
            request_log=Path(options.request_log) if options.request_log else None,
            claims=profile.auth.model_dump(),
        )
    if options.embedded_fault:
        raise TargetError(
            "--st-embedded-fault applies only to the embedded server (no --st-target)"
        )
    token_file = options.token_file or profile.token_file
    if token_file is None:
        raise TargetError(
            "a target needs a token: give --st-token-file or token_file in the profile"
        )
    manager = options.manager_url or profile.manager_url
    token = read_secret_file(token_file, "token file")
    if "auth" in profile.families:
        problem = jwt_problem(token)
        if problem is not None:
            raise TargetError(f"token file {token_file} does not hold a JWT: {problem}")
    secret = read_secret_file(options.secret_file, "secret file") if options.secret_file else None
    return Target(
        base_url=base_url("--st-target", url),
        manager_url=base_url("--st-manager-url", manager) if manager else None,
        token=token,
        secret=secret,
        embedded=False,
    )


def make_run(
    settings: Settings,
    target: Target,
    *,
    run_id: str,
    state_dir: Path,
    server: EmbeddedServer | None = None,
) -> Run:
    """The controller's `Run` (xdist workers rebuild theirs from its wire form)."""
    return Run(
        profile=settings.profile,
        target=target,
        run_id=run_id,
        allow_mutating=settings.allow_mutating,
        examples=settings.examples,
        state_dir=state_dir,
        results_path=settings.results_path,
        controller=True,
        server=server,
        ca_file=settings.ca_file,
        tls_min_days=settings.tls_min_days,
        tls_metrics_path=settings.tls_metrics_path,
        http_metrics_path=settings.http_metrics_path,
        budget_s=settings.budget_s,
        slot=settings.slot,
    )
