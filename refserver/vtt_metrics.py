"""The VTT mode's Prometheus metrics: real counters, one prometheus-client registry per app.

Every request the API answers moves ``http_requests_total`` and
``http_request_duration_seconds`` (seeds 002, 003, 004 name both), so a probe
that sends traffic between two scrapes sees exactly what it sent. The
exposition faults are expressed here: a histogram that was never registered,
a counter flushed on every scrape, a text without its ``+Inf`` buckets.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

REQUEST_LABELS = ("method", "route", "status")
DURATION_LABELS = ("method", "route")


class VttMetrics:
    """The app's registry and its instruments; ``register_histogram=False`` is a fault."""

    def __init__(self, *, register_histogram: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "http_requests_total",
            "Total HTTP requests",
            REQUEST_LABELS,
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Request latency",
            DURATION_LABELS,
            registry=self.registry if register_histogram else None,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "Current active requests", registry=self.registry
        )
        self.database_status = Gauge(
            "vtt_health_check_database_status",
            "Database health (1=healthy, 0=unhealthy)",
            registry=self.registry,
        )
        self.memory_percent = Gauge(
            "vtt_health_check_memory_usage_percent",
            "Memory usage percentage",
            registry=self.registry,
        )
        # process_start_time_seconds tells a reader whether a counter drop was a restart.
        ProcessCollector(registry=self.registry)
        self._seen: set[tuple[str, str, str]] = set()
        self.active = 0

    def enter(self) -> None:
        self.active += 1
        self.in_flight.set(self.active)

    def leave(self) -> None:
        self.active -= 1
        self.in_flight.set(self.active)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self._seen.add(labels)
        self.requests.labels(*labels).inc()
        self.duration.labels(method, route).observe(seconds)

    def totals(self) -> tuple[int, int]:
        """(all requests, 5xx answers) counted so far."""
        total = errors = 0.0
        for family in self.requests.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    total += sample.value
                    if sample.labels.get("status", "").startswith("5"):
                        errors += sample.value
        return int(total), int(errors)

    def reset_requests(self) -> None:
        """The ``metrics-counter-reset`` flush: every request series back to 0."""
        self.requests.clear()
        for labels in self._seen:
            self.requests.labels(*labels)

    def exposition(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


def drop_inf_buckets(text: str) -> str:
    """The ``metrics-histogram-no-inf`` exporter: every ``le="+Inf"`` bucket line left out."""
    return "".join(line for line in text.splitlines(keepends=True) if 'le="+Inf"' not in line)
