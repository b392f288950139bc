"""Alerts for Alertmanager's v2 API (``POST /api/v2/alerts``) from one run's verdicts. Pure.

``python -m slo.notify --alertmanager URL`` (or ``$ALERTMANAGER_URL``) hands the alert
types of :mod:`slo.notify` to an Alertmanager instead of deduplicating and posting them
itself: grouping, deduplication, repeats, silences, inhibition and routing are then
Alertmanager's. Each run posts, like a Prometheus rule evaluation does:

* every firing type, with labels ``alertname`` (the type), ``severity``, ``environment``
  and ``target`` (scheme, host and port of the probed API), plus ``slo`` for
  ``SLO_PAGE_BURN`` (one alert per burning SLO), annotations ``summary`` and
  ``description``, ``startsAt`` now (Alertmanager keeps the earliest while it stays
  active) and ``endsAt`` now + ``ttl_seconds``, so an alert whose runs stop ends by
  itself instead of firing forever;
* a resolution (``endsAt`` now) for each alert Alertmanager holds active for this
  environment and target whose type the run has evidence for and which the run no longer
  fires with the same labels (it cleared, or its severity or SLO changed). The resolved
  set is read back from Alertmanager (``GET /api/v2/alerts``) rather than kept in the
  ledger: Alertmanager's view is the one that decides what it notifies, and resolving
  alerts it never held would put "resolved" lines for never-fired types into grouped
  notifications. A type without evidence (a skipped family, no SLO report) is left
  alone: it ends at its ``endsAt`` unless a later run fires it again.

The HTTP shell is in :mod:`slo.notify`; this module only builds and reads bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from slo import notify

ALERTS_PATH = "/api/v2/alerts"
# 4 x the schedule's cadence, as Prometheus keeps a firing alert's endsAt at 4 x its
# evaluation interval: one or two late runs do not end an alert and re-page.
TTL_RUNS = 4


@dataclass(frozen=True)
class Posting:
    """One alert for the v2 API, and the line ``slo.notify`` prints for it."""

    body: dict[str, Any]
    status: str  # firing | resolved
    line: str

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.body["labels"])


def iso(ts: float) -> str:
    """RFC 3339 in UTC with milliseconds, as Alertmanager writes its own timestamps."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def target_label(target: str) -> str:
    """``scheme://host:port`` of the probed API: no user info, path or query."""
    parts = urlsplit(target)
    if not parts.scheme or not parts.hostname:
        return target.split("?", 1)[0].split("@")[-1]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def identity(run: notify.RunSummary) -> dict[str, str]:
    """The labels every alert of this run carries: which environment, which API."""
    return {"environment": run.environment, "target": target_label(run.target)}


def _annotations(
    summary: str, headline: str, facts: Sequence[tuple[str, str]], run: notify.RunSummary
) -> dict[str, str]:
    lines = [headline, *(f"{k}: {v}" for k, v in facts)]
    out = {"summary": summary, "description": "\n".join(lines), "run_id": run.run_id}
    if run.commit:
        out["commit"] = run.commit
    return out


def _alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts: float,
    ends: float,
    context: notify.Context,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": dict(labels),
        "annotations": dict(annotations),
        "startsAt": iso(starts),
        "endsAt": iso(ends),
    }
    generator = context.pipeline_url or context.job_url
    if generator:
        body["generatorURL"] = generator
    return body


def page_burns(report: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """``(slo_name, one line)`` per overall SLO whose page-severity line fires."""
    out = []
    for slo in (report or {}).get("slos") or []:
        if not isinstance(slo, dict) or slo.get("endpoint") is not None:
            continue
        lines = [
            notify.burn_line(line)
            for line in slo.get("alerts") or []
            if line.get("severity") == "page" and line.get("alert")
        ]
        if lines:
            name = str(slo.get("slo_name"))
            out.append((name, f"{name}: " + "; ".join(lines)))
    return out


def firing(
    verdicts: Mapping[str, notify.Alert | None],
    run: notify.RunSummary,
    context: notify.Context,
    report: Mapping[str, Any] | None,
    now: float,
    ttl_seconds: float,
) -> list[Posting]:
    """One posting per firing type (per burning SLO for ``SLO_PAGE_BURN``)."""
    out = []
    base = identity(run)
    for name in notify.ALERT_TYPES:
        alert = verdicts.get(name)
        if alert is None:
            continue
        facts = [("run", run.run_id), *alert.facts]
        per_slo: list[tuple[str | None, str]] = []
        if name == notify.SLO_PAGE_BURN:
            per_slo.extend(page_burns(report))
        for slo_name, summary in per_slo or [(None, alert.summary)]:
            labels = {"alertname": name, "severity": alert.severity, **base}
            if slo_name is not None:
                labels["slo"] = slo_name
            where = f" ({slo_name})" if slo_name else ""
            headline = f"[FIRING] {name}{where} ({alert.severity}) on {run.environment}"
            body = _alert(
                labels,
                _annotations(summary, headline, facts, run),
                now,
                now + ttl_seconds,
                context,
            )
            line = f"{name}{where} firing ({alert.severity}): {summary}"
            out.append(Posting(body, "firing", line))
    return out


def active_labels(body: Any) -> list[dict[str, Any]]:
    """The alerts of a ``GET /api/v2/alerts`` answer: labels and annotations of each."""
    if not isinstance(body, list):
        raise ValueError("expected a JSON list of alerts")
    out = []
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise ValueError("expected alerts with labels")
        annotations = item.get("annotations")
        out.append(
            {
                "labels": {str(k): str(v) for k, v in item["labels"].items()},
                "annotations": (
                    {str(k): str(v) for k, v in annotations.items()}
                    if isinstance(annotations, dict)
                    else {}
                ),
            }
        )
    return out


def resolutions(
    active: Iterable[Mapping[str, Any]],
    verdicts: Mapping[str, notify.Alert | None],
    run: notify.RunSummary,
    context: notify.Context,
    posted: Sequence[Posting],
    now: float,
) -> list[Posting]:
    """A resolution for each active alert of this run's identity that no longer fires.

    Only types with evidence in the run resolve; an alert posted firing in this run with
    the same labels is kept. Labels are sent back exactly as Alertmanager holds them (its
    identity of an alert is its label set).
    """
    base = identity(run)
    keep = [p.labels for p in posted]
    out = []
    seen: list[dict[str, str]] = []
    for item in active:
        labels = dict(item["labels"])
        name = labels.get("alertname", "")
        if name not in verdicts or any(labels.get(k) != v for k, v in base.items()):
            continue
        if labels in keep or labels in seen:
            continue
        seen.append(labels)
        annotations = dict(item.get("annotations") or {})
        annotations["resolved_by_run"] = run.run_id
        where = f" ({labels['slo']})" if labels.get("slo") else ""
        was = annotations.get("summary")
        line = f"{name}{where} resolved ({labels.get('severity', '?')})" + (
            f": was {was}" if was else ""
        )
        out.append(Posting(_alert(labels, annotations, now, now, context), "resolved", line))
    return out


def active_filter(run: notify.RunSummary) -> list[tuple[str, str]]:
    """Query parameters selecting this run's alerts in ``GET /api/v2/alerts``."""
    params = [("active", "true"), ("silenced", "true"), ("inhibited", "true")]
    for key, value in identity(run).items():
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        params.append(("filter", f'{key}="{escaped}"'))
    return params


def alerts_url(base_url: str) -> str:
    """The v2 alerts endpoint under an Alertmanager URL (which may carry a route prefix)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/").removesuffix(ALERTS_PATH)
    return parts._replace(path=path + ALERTS_PATH, query="", fragment="").geturl()


def valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
