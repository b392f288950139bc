"""blackbox_exporter's HTTP metrics for the health probes, per target URL.

Dashboards and alerts built on blackbox_exporter's `http` prober read
`probe_success`, `probe_duration_seconds`, `probe_http_status_code`... by name, type
and labels. The health probes make the same request a blackbox `http_2xx` module
would (GET the health URL), so the run exports what they saw under those names,
labelled `target` (a textfile holding several targets must name each; blackbox gets
it from the scrape). Phase timings (`probe_http_duration_seconds{phase}`) and DNS
facts are not exported: the probe's client does not time the phases apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from probes.exchange import Exchange


@dataclass(frozen=True)
class HttpFacts:
    """What one health request showed, as a blackbox http probe reports it."""

    url: str
    status: int | None
    duration_s: float | None
    content_length: int

    def to_measured(self) -> dict[str, Any]:
        return {"http": {"url": self.url, "status": self.status, "duration_s": self.duration_s,
                         "content_length": self.content_length}}  # fmt: skip

    @classmethod
    def of(cls, exchange: Exchange) -> HttpFacts:
        seconds = None if exchange.latency_ms is None else round(exchange.latency_ms / 1000, 6)
        return cls(exchange.url, exchange.status, seconds, len(exchange.body))

    @classmethod
    def from_measured(cls, measured: Mapping[str, Any]) -> HttpFacts | None:
        http = measured.get("http")
        if not isinstance(http, Mapping) or not isinstance(http.get("url"), str):
            return None
        return cls(http["url"], http.get("status"), http.get("duration_s"),
                   int(http.get("content_length") or 0))  # fmt: skip


def metrics_registry(
    targets: Iterable[HttpFacts], success: Mapping[str, bool]
) -> CollectorRegistry:
    """One sample per target and metric; `success` maps a URL to whether its probes passed."""
    registry = CollectorRegistry()
    labels = ["target"]

    def gauge(name: str, help_text: str) -> Gauge:
        return Gauge(name, help_text, labels, registry=registry)

    succeeded = gauge("probe_success", "Displays whether or not the probe was a success")
    duration = gauge(
        "probe_duration_seconds", "Returns how long the probe took to complete in seconds"
    )
    status = gauge("probe_http_status_code", "Response HTTP status code")
    length = gauge("probe_http_content_length", "Length of http content response")
    body = gauge("probe_http_uncompressed_body_length", "Length of uncompressed response body")
    ssl = gauge("probe_http_ssl", "Indicates if SSL was used for the final redirect")
    redirects = gauge("probe_http_redirects", "The number of redirects")
    for facts in targets:
        target = facts.url
        if target in success:
            succeeded.labels(target).set(1 if success[target] else 0)
        if facts.duration_s is not None:
            duration.labels(target).set(facts.duration_s)
        # blackbox reports 0 when no answer came back
        status.labels(target).set(facts.status or 0)
        length.labels(target).set(facts.content_length)
        body.labels(target).set(facts.content_length)
        ssl.labels(target).set(1 if target.startswith("https://") else 0)
        redirects.labels(target).set(0)  # the probes never follow redirects
    return registry
