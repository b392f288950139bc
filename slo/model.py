"""Frozen value objects shared by the pure core and the I/O shell.

Nothing here does I/O or reads the clock: times are epoch seconds passed in by the caller,
so every computation can be replayed in a test with a fixed ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

BUCKET_SECONDS = 60
"""Window granularity: every window and timeslice is a whole number of minutes. (The
ledger counts per second, ``slo.store.LEDGER_BUCKET_SECONDS``, so a window can end at any
``now``; schema-1 ledgers counted per minute.)"""

OVERALL = ""
"""Endpoint key of the all-endpoints aggregate (a real endpoint key is ``"GET /scene"``)."""

PRODUCTION = "production"


class SliKind(StrEnum):
    """The two SLIs the results format can express (contract.md, "Service level objectives")."""

    AVAILABILITY = "availability"
    LATENCY = "latency"


class Budgeting(StrEnum):
    """OpenSLO budgeting methods: count events, or count good time slices."""

    OCCURRENCES = "Occurrences"
    TIMESLICES = "Timeslices"


class State(StrEnum):
    """Where an SLO stands. ``NO_DATA`` is deliberately never a kind of good."""

    OK = "ok"
    TICKET = "ticket"
    PAGE = "page"
    EXHAUSTED = "exhausted"
    NO_DATA = "no_data"


@dataclass(frozen=True)
class Counts:
    """Good and total events. Floats, because Prometheus' ``increase()`` is not integral."""

    good: float = 0
    total: float = 0

    @property
    def bad(self) -> float:
        return self.total - self.good

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)


@dataclass(frozen=True)
class Slo:
    """One objective over one SLI, as loaded from a spec (native or OpenSLO)."""

    name: str
    sli: SliKind
    objective_ratio: float
    period_seconds: int
    threshold_ms: float | None = None
    per_endpoint: bool = True
    environments: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("probe",)
    min_events: int = 100
    budgeting: Budgeting = Budgeting.OCCURRENCES
    timeslice_seconds: int | None = None
    timeslice_target_ratio: float | None = None
    description: str = ""
    service: str = "spacetime-httpapi"

    @property
    def budget_ratio(self) -> float:
        """The error budget as a fraction of events (or slices): ``1 - objective``."""
        return 1.0 - self.objective_ratio

    @property
    def definition(self) -> str:
        """What the ledger counted for this SLO; a changed definition needs a new ledger."""
        if self.sli is SliKind.LATENCY:
            return f"latency<={self.threshold_ms:g}ms"
        return "availability"

    def applies_to(self, environment: str) -> bool:
        return not self.environments or environment in self.environments

    def counts_source(self, environment: str, source: str) -> bool:
        """Load traffic never counts against a production SLO, whatever the spec says."""
        if source == "load" and environment == PRODUCTION:
            return False
        return source in self.sources


@dataclass(frozen=True)
class AlertWindow:
    """One line of the multi-window, multi-burn-rate policy (SRE Workbook, ch. 5).

    The burn factor is derived from the SLO's own period, so a 28-day SLO pages at
    13.44x over 1h, not at the 30-day 14.4x.
    """

    severity: str
    budget_fraction: float
    long_window_seconds: int
    short_window_seconds: int

    def factor(self, period_seconds: int) -> float:
        return self.budget_fraction * period_seconds / self.long_window_seconds


@dataclass(frozen=True)
class GatePolicy:
    """What freezes a deploy. Data, so a team can loosen or tighten it in YAML."""

    freeze_severities: tuple[str, ...] = ("page",)
    freeze_on_exhausted: bool = True
    min_remaining_ratio: float = 0.0
    on_no_data: str = "error"
    endpoints: bool = False
    slos: tuple[str, ...] = ()
    min_history_seconds: int | None = None
    """How far back the ledger's probe runs must reach; ``None``: derived from the policy."""
    min_runs: int | None = None
    """Probe runs needed within that span; ``None``: derived from the policy."""


@dataclass(frozen=True)
class Policy:
    """Burn windows shown in reports, alert windows, and the gate."""

    alerts: tuple[AlertWindow, ...]
    burn_windows_seconds: tuple[int, ...]
    exhaustion_window_seconds: int = 3600
    wilson_z: float = 1.96
    gate: GatePolicy = field(default_factory=GatePolicy)


@dataclass(frozen=True)
class Spec:
    """A loaded spec: its SLOs and the policy they are judged by."""

    slos: tuple[Slo, ...]
    policy: Policy
    origin: str = "<spec>"

    def slo(self, name: str) -> Slo:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(name)


@dataclass(frozen=True)
class SloInput:
    """What a source (ledger or Prometheus) hands the core for one SLO and one endpoint.

    ``windows`` maps a window length (seconds) to the counts in ``[now - w, now)``;
    ``series`` is ``(start, good, total)`` per ``step`` seconds over the period, for the
    charts (burn-down, SLI and burn rate over time).
    """

    slo: str
    endpoint: str
    windows: dict[int, Counts]
    series: tuple[tuple[int, float, float], ...] = ()
    step: int = 3600


@dataclass(frozen=True)
class AlertState:
    """One policy line evaluated: both windows must burn faster than the factor."""

    severity: str
    budget_fraction: float
    long_window_seconds: int
    short_window_seconds: int
    threshold: float
    long_burn_rate: float | None
    short_burn_rate: float | None
    enough_data: bool
    firing: bool


@dataclass(frozen=True)
class SloStatus:
    """Everything a report says about one SLO for one endpoint (``OVERALL`` for all)."""

    slo: Slo
    endpoint: str
    counts: Counts
    sli_ratio: float | None
    sli_interval: tuple[float, float] | None
    consumed_ratio: float | None
    remaining_ratio: float | None
    budget_minutes: float
    consumed_minutes: float | None
    remaining_minutes: float | None
    burn_rates: tuple[tuple[int, float | None], ...]
    period_burn_rate: float | None
    alerts: tuple[AlertState, ...]
    time_to_exhaustion_seconds: float | None
    state: State
    burndown: tuple[tuple[int, float], ...] = ()
    series: tuple[tuple[int, float, float], ...] = ()
    series_step: int = 3600


@dataclass(frozen=True)
class ProbeRow:
    """A probe's last outcome and its record over the window, for the report's table."""

    probe: str
    family: str
    endpoint: str | None
    method: str | None
    last_outcome: str
    last_ts: float
    reason: str | None
    passed: int
    failed: int
    skipped: int
    errors: int


@dataclass(frozen=True)
class Report:
    """A whole report; rendered to Markdown, HTML, JSON and PNG by ``render``/``charts``."""

    generated_at: float
    environment: str
    source: str
    spec_origin: str
    policy: Policy
    statuses: tuple[SloStatus, ...]
    probes: tuple[ProbeRow, ...] = ()
    excluded_load: tuple[tuple[str, Counts], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def overall(self) -> tuple[SloStatus, ...]:
        return tuple(s for s in self.statuses if s.endpoint == OVERALL)


@dataclass(frozen=True, slots=True)
class EventTotal:
    """All-time counts of one SLO for one environment, source and endpoint (counters)."""

    slo: str
    environment: str
    source: str
    method: str | None
    endpoint: str | None
    good: float
    total: float


@dataclass(frozen=True, slots=True)
class LastOutcome:
    """A probe's newest outcome in one environment, as the ledger keeps it."""

    environment: str
    target: str
    probe: str
    family: str | None
    endpoint: str | None
    method: str | None
    outcome: str
    duration_s: float | None


@dataclass(frozen=True, slots=True)
class LoadRun:
    run_id: str
    environment: str
    first_ts: float | None


@dataclass(frozen=True, slots=True)
class StepRow:
    """One SLO's events in one stage of a load run, from the ledger or from a file."""

    stage_index: int  # -1: the shape set no stage
    users: float | None
    rate_per_s: float | None
    good: float
    total: float


@dataclass(frozen=True)
class RunHistory:
    """One environment's runs of one source as the ledger holds them up to ``until``.

    Counts alone cannot tell a month of scheduled runs from one run on a ledger that a
    lost cache left empty; the gate's history rule (``slo.policy.history_shortfall``)
    reads how many runs there are and how far back they reach.
    """

    environment: str
    source: str
    since: float
    until: float
    runs: int
    """Distinct run ids that started at or before ``until``."""
    recent_runs: int
    """Of those, the runs that started at or after ``since``."""
    first_ts: float | None
    """When the oldest of them started; ``None`` when there is none."""
    last_ts: float | None


@dataclass(frozen=True)
class HistoryNeed:
    """What the gate asks of the ledger's history before it may say go.

    The oldest probe run must have started ``span_seconds`` before the decision, and at
    least ``runs`` probe runs must have started within that span. Zero for both: no rule.
    """

    span_seconds: int
    runs: int


@dataclass(frozen=True)
class History:
    """The ledger's probe history for one environment as of ``now``, and what is needed."""

    environment: str
    need: HistoryNeed
    runs: tuple[RunHistory, ...]
    now: float


@dataclass(frozen=True)
class Verdict:
    """The gate's decision: exit code and the one line that explains it."""

    exit_code: int
    decision: str
    reason: str


@dataclass(frozen=True)
class CapacityStep:
    """One stage of a stepped load run, judged against one SLO."""

    stage_index: int
    users: float | None
    rate_per_s: float | None
    counts: Counts
    sli_ratio: float | None
    burn_rate: float | None

    @property
    def load(self) -> float:
        """The offered load: the arrival rate when the shape set one, else the user count."""
        if self.rate_per_s is not None:
            return self.rate_per_s
        return self.users if self.users is not None else float(self.stage_index)


@dataclass(frozen=True)
class Crossing:
    """Where the burn rate first exceeds ``threshold`` as load grows."""

    threshold: float
    stage_index: int | None
    load: float | None
    interpolated_load: float | None


@dataclass(frozen=True)
class CapacityReport:
    """Per SLO: the steps, the highest sustainable load (burn <= 1) and the crossings."""

    slo: Slo
    steps: tuple[CapacityStep, ...]
    max_sustainable_load: float | None
    crossings: tuple[Crossing, ...]
