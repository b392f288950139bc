"""The probe run as a plain object: what every probe needs, one per pytest process.

`Run` holds the resolved profile and target, the shared pacer, the results
writer and the circuit breakers; the controller builds it from the options
(`probes.options.make_run`) and hands it to xdist workers over the wire
(`to_wire`/`from_wire`). Probes receive it through the `st_run` fixture and
say what they measured through a `ProbeContext`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from probes import profile as profiles
from probes.breaker import Breaker
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.outcomes import UNREACHABLE, TargetUnavailable
from probes.pacer import Pacer, paced
from probes.plan import RequestPlan
from probes.redact import token_parts
from probes.results import ResultsWriter
from probes.target import EmbeddedServer, Target


@dataclass
class Run:
    """Everything a probe needs about this run; one per pytest process."""

    profile: profiles.Profile
    target: Target
    run_id: str
    allow_mutating: bool
    examples: int
    state_dir: Path
    results_path: Path
    controller: bool
    server: EmbeddedServer | None = None
    ca_file: str | None = None
    tls_min_days: float = 30.0
    tls_metrics_path: Path | None = None
    http_metrics_path: Path | None = None
    writer: ResultsWriter = field(init=False)
    pacer: Pacer = field(init=False)
    current_probe: tuple[str, str] = ("", "")
    # Requests each probe sent (its samples), reported with its outcome for the progress line.
    sent: dict[str, int] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    # One circuit breaker per service (base URL), shared by every client of it in
    # this process; the controller's preflight verdict reaches the workers by wire.
    breakers: dict[str, Breaker] = field(default_factory=dict)
    plan: RequestPlan | None = None  # the controller's, once collection has ended
    budget_s: float | None = None  # --st-budget: rotate the matrix to fit
    slot: int = 0  # --st-slot: which slice a budgeted run sends
    coverage: dict[str, Any] | None = None  # what a budgeted run sent and left (a record)
    # Per base URL, the transport every client of it uses; None: the network (the probes'
    # own deadline transport). Injected where a family runs in-process (unit tests);
    # never sent over the wire to xdist workers, which always use the network.
    transport: Callable[[str], httpx.BaseTransport] | None = None
    _attribution: threading.local = field(default_factory=threading.local, repr=False)

    def __post_init__(self) -> None:
        limit = self.profile.rate_limit
        rate, capacity = paced(limit.rate_per_second, limit.burst, limit.pace_ratio)
        self.pacer = Pacer(self.state_dir, rate_per_second=rate, capacity=capacity)
        self.writer = ResultsWriter(
            self.results_path,
            run_id=self.run_id,
            target=self.target.base_url,
            environment=self.profile.environment,
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """What redaction removes: the token, each of its segments, the signing secret."""
        parts = (*token_parts(self.target.token), self.target.secret)
        return tuple(sorted({s for s in parts if s}, key=len, reverse=True))

    @property
    def mutating_allowed(self) -> bool:
        return self.allow_mutating or not self.profile.production

    def to_wire(self) -> dict[str, Any]:
        return {
            "profile": self.profile.model_dump(mode="json"),
            "target": self.target.__dict__,
            "run_id": self.run_id,
            "allow_mutating": self.allow_mutating,
            "examples": self.examples,
            "state_dir": str(self.state_dir),
            "results_path": str(self.results_path),
            "ca_file": self.ca_file,
            "tls_min_days": self.tls_min_days,
            "budget_s": self.budget_s,
            "slot": self.slot,
            "unavailable": {url: b.reason for url, b in self.breakers.items() if b.reason},
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Run:
        run = cls(
            profile=profiles.from_dict(wire["profile"], origin="controller"),
            target=Target(**wire["target"]),
            run_id=wire["run_id"],
            allow_mutating=wire["allow_mutating"],
            examples=wire["examples"],
            state_dir=Path(wire["state_dir"]),
            results_path=Path(wire["results_path"]),
            controller=False,
            ca_file=wire["ca_file"],
            tls_min_days=wire["tls_min_days"],
            budget_s=wire["budget_s"],
            slot=wire["slot"],
        )
        for url, reason in wire["unavailable"].items():
            run.breaker(url).trip(reason)
        return run

    @contextlib.contextmanager
    def attributed(self, probe: tuple[str, str]) -> Iterator[None]:
        """Samples this thread sends in the block belong to `probe` (nodeid, family), not
        to the probe being run: requests a probe sends ahead for the tests after it."""
        self._attribution.probe = probe
        try:
            yield
        finally:
            self._attribution.probe = None

    def record_sample(self, exchange: Exchange, expected: bool | None) -> None:
        probe, family = getattr(self._attribution, "probe", None) or self.current_probe
        self.sent[probe] = self.sent.get(probe, 0) + 1
        self.writer.write(
            "sample",
            {
                "ts": time.time() - (exchange.latency_ms or 0) / 1000,
                "probe": probe,
                "family": family,
                "endpoint": exchange.endpoint,
                "method": exchange.method,
                "status": exchange.status,
                "latency_ms": None
                if exchange.latency_ms is None
                else round(exchange.latency_ms, 3),
                "error": exchange.error,
                "expected_status": expected,
            },
        )

    def breaker(self, base_url: str) -> Breaker:
        return self.breakers.setdefault(base_url, Breaker())

    def preflight(self) -> str | None:
        """One request before any probe: a target that does not answer opens its breaker.

        Every probe then fails at once with this one line, instead of each
        family reporting the outage in its own words (and each request waiting
        out the timeout). Returns the reason, or None when the target answered.
        """
        endpoint = next((e for e in self.profile.endpoints if e.method == "GET"), None)
        if endpoint is None:
            return None
        self.current_probe = ("preflight", "preflight")
        client = self.client(self.target.base_url, token=self.target.token)
        try:
            exchange = client.request("GET", endpoint.path)
            if exchange.status is None:
                self.breaker(self.target.base_url).trip(f"{UNREACHABLE}{exchange.error}")
        except TargetUnavailable:
            pass  # locked out: the breaker holds the reason
        finally:
            client.close()
            self.current_probe = ("", "")
        return self.breaker(self.target.base_url).reason

    def client(self, base_url: str, *, token: str | None) -> ProbeClient:
        return ProbeClient(
            base_url,
            token=token,
            timeout_s=self.profile.request_timeout_s,
            pacer=self.pacer,
            sink=self.record_sample,
            allow_mutating=self.mutating_allowed,
            ca_file=self.ca_file,
            secrets=self.secrets,
            transport=None if self.transport is None else self.transport(base_url),
            breaker=self.breaker(base_url),
        )


RUN = pytest.StashKey[Run]()


@dataclass
class ProbeContext:
    """What a probe says about itself for the results file and the summary."""

    node: pytest.Item

    def about(self, method: str | None, endpoint: str | None) -> None:
        self.node.user_properties.append(("method", method))
        self.node.user_properties.append(("endpoint", endpoint))

    def measured(self, values: dict[str, Any]) -> None:
        self.node.user_properties.append(("measured", values))
