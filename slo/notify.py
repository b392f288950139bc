"""Webhook alerts from a scheduled probe run, with the health monitor's alert types.

``slo notify --results reports/results.jsonl [--slo-report FILE]`` reads the
last run in a results file (and, if given, the SLO report's JSON), decides which alert
types fire, and posts one message per notice to a Slack, Discord or generic JSON webhook.
Seed 000's health monitor is the model: the same five types, at most one alert per type
per 5 minutes, plus a sixth for a page-level SLO burn, and a resolved notice when a type
clears. The state that makes this hold across runs lives in the ledger
(:mod:`slo.notified`).

The rules (docs/gitlab.md, "Alerts"):

=====================  =================================================================
API_DOWN               half or more of the run's ``/performance`` requests got no answer
                       or a 5xx (any endpoint, when the run has no ``/performance``)
SLOW_RESPONSE          the median of the answered ``/performance`` latencies over the
                       monitor's 0.2 s (one slow request is not an alert)
HIGH_MEMORY            ``memory.static_memory_usage`` over 10 GiB (critical over 12 GiB)
LOW_FPS                ``engine.fps`` under 90 (high under 85, critical under 45)
RATE_LIMIT_VIOLATIONS  a rate_limit probe failed, or a paced probe met a 429 it did not
                       provoke (someone else is spending this client's budget)
SLO_PAGE_BURN          a page-severity multi-window burn alert fires in the SLO report
=====================  =================================================================

A type whose evidence is missing from the run (a skipped family, no SLO report) is
*unknown*: it neither fires nor resolves.

With ``--alertmanager URL`` (or ``$ALERTMANAGER_URL``) the alerts go to an Alertmanager's
v2 API instead (:mod:`slo.alertmanager`): it groups, deduplicates, silences and routes
them, so the rate limit and state above are not used for that destination; the direct
webhooks stay for teams without one, and both may be given.

Everything above the ``# shell`` line is pure: records and report in, alerts, decisions
and payloads out. The webhook URL is a credential (a Slack URL is one): it is read from
``--webhook`` or ``$ALERT_WEBHOOK_URL`` and never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from slo.runs import latest_run_id, percentile, run_records

if TYPE_CHECKING:  # the state module opens the ledger (sqlite3): imported where used
    from slo.notified import NotifiedAlert

API_DOWN = "API_DOWN"
SLOW_RESPONSE = "SLOW_RESPONSE"
HIGH_MEMORY = "HIGH_MEMORY"
LOW_FPS = "LOW_FPS"
RATE_LIMIT_VIOLATIONS = "RATE_LIMIT_VIOLATIONS"
SLO_PAGE_BURN = "SLO_PAGE_BURN"
ALERT_TYPES = (API_DOWN, SLOW_RESPONSE, HIGH_MEMORY, LOW_FPS, RATE_LIMIT_VIOLATIONS, SLO_PAGE_BURN)

FORMATS = ("slack", "discord", "generic")
GIB = 1024**3
PERFORMANCE = "/performance"


@dataclass(frozen=True)
class Thresholds:
    """Seed 000's health monitor defaults, in the probes' units."""

    down_ratio: float = 0.5  # share of /performance requests unanswered or 5xx
    slow_ms: float = 200.0  # --response-time 0.2
    # The monitor judges each poll; a run's typical poll is its median. One cold request
    # must not page; the p95 SLA is the latency family's verdict and the SLO's.
    slow_percentile: float = 50.0
    memory_gib: float = 10.0  # "High: >10GB (80% of 12GB limit)"
    memory_critical_gib: float = 12.0
    fps: float = 90.0  # medium < 90, high < 85, critical < 45 (alert rules)
    fps_high: float = 85.0
    fps_critical: float = 45.0
    interval_s: float = 300.0  # "Max 1 alert per type per 5 minutes"


@dataclass(frozen=True)
class Alert:
    alert_type: str
    severity: str  # medium | high | critical
    summary: str  # one line
    facts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunSummary:
    """The facts of one probe run that the rules read."""

    run_id: str
    environment: str
    target: str
    commit: str | None = None
    ended: bool = False
    exit_status: int | None = None
    samples: tuple[dict[str, Any], ...] = ()
    outcomes: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Context:
    """Where the notice comes from, for the message's links and footer."""

    pipeline_url: str | None = None
    job_url: str | None = None
    project: str | None = None


# ----------------------------------------------------------------------------- reading


def last_run(records: Iterable[Mapping[str, Any]]) -> RunSummary | None:
    """The latest probe run in a results file (files may hold several, concatenated);
    which one is latest is :func:`slo.runs.latest_run_id`'s rule."""
    records = list(records)
    latest = latest_run_id(records, "probe")
    if latest is None:
        return None
    run: dict[str, Any] = {
        "samples": [],
        "outcomes": [],
        "ended": False,
        "exit_status": None,
        "commit": None,
    }
    mine = run_records(records, latest)
    first = mine[0]
    for record in mine:
        kind = record.get("kind")
        if kind == "sample":
            run["samples"].append(dict(record))
        elif kind == "outcome":
            run["outcomes"].append(dict(record))
        elif kind == "run":
            if record.get("phase") == "start":
                run["commit"] = record.get("commit")
            elif record.get("phase") == "end":
                run["ended"] = True
                run["exit_status"] = record.get("exit_status")
    return RunSummary(
        run_id=latest,
        environment=str(first.get("environment") or "unknown"),
        target=str(first.get("target") or ""),
        commit=run["commit"],
        ended=run["ended"],
        exit_status=run["exit_status"],
        samples=tuple(run["samples"]),
        outcomes=tuple(run["outcomes"]),
    )


# ----------------------------------------------------------------------------- rules


def _failed(sample: Mapping[str, Any]) -> bool:
    status = sample.get("status")
    return not isinstance(status, int) or status >= 500


def api_down(run: RunSummary, t: Thresholds) -> Alert | None:
    performance = [s for s in run.samples if s.get("endpoint") == PERFORMANCE]
    pool = performance or list(run.samples)
    if not pool:
        raise _Unknown
    failed = [s for s in pool if _failed(s)]
    where = "GET /performance" if performance else "the API"
    # Without /performance (another API kind), only a run where nothing answered is down.
    if len(failed) / len(pool) < (t.down_ratio if performance else 1.0):
        return None
    first = failed[0]
    why = first.get("error") or f"HTTP {first.get('status')}"
    return Alert(
        API_DOWN,
        "critical",
        f"{where}: {len(failed)} of {len(pool)} requests got no answer or a 5xx (first: {why})",
        (("failed", str(len(failed))), ("requests", str(len(pool)))),
    )


def slow_response(run: RunSummary, t: Thresholds) -> Alert | None:
    latencies = [
        float(s["latency_ms"])
        for s in run.samples
        if s.get("endpoint") == PERFORMANCE
        and isinstance(s.get("status"), int)
        and isinstance(s.get("latency_ms"), int | float)
    ]
    if not latencies:
        raise _Unknown
    p = percentile(latencies, t.slow_percentile)
    if p <= t.slow_ms:
        return None
    over = sum(1 for v in latencies if v > t.slow_ms)
    return Alert(
        SLOW_RESPONSE,
        "medium",
        f"GET /performance p{t.slow_percentile:g} {p:.1f} ms > {t.slow_ms:g} ms "
        f"({over} of {len(latencies)} over, max {max(latencies):.1f} ms)",
        (
            (f"p{t.slow_percentile:g}_ms", f"{p:.1f}"),
            ("limit_ms", f"{t.slow_ms:g}"),
            ("samples", str(len(latencies))),
        ),
    )


def _measured(run: RunSummary, metric: str) -> float | None:
    """The last value a performance probe measured for ``metric``."""
    value = None
    for outcome in run.outcomes:
        measured = outcome.get("measured")
        if (
            outcome.get("family") == "performance"
            and isinstance(measured, dict)
            and measured.get("metric") == metric
            and isinstance(measured.get("value"), int | float)
            and not isinstance(measured.get("value"), bool)
        ):
            value = float(measured["value"])
    return value


def high_memory(run: RunSummary, t: Thresholds) -> Alert | None:
    value = _measured(run, "memory.static_memory_usage")
    if value is None:
        raise _Unknown
    if value <= t.memory_gib * GIB:
        return None
    critical = value > t.memory_critical_gib * GIB
    limit = t.memory_critical_gib if critical else t.memory_gib
    return Alert(
        HIGH_MEMORY,
        "critical" if critical else "high",
        f"static memory {value / GIB:.2f} GiB > {limit:g} GiB",
        (("static_memory_gib", f"{value / GIB:.2f}"), ("limit_gib", f"{limit:g}")),
    )


def low_fps(run: RunSummary, t: Thresholds) -> Alert | None:
    value = _measured(run, "engine.fps")
    if value is None:
        raise _Unknown
    if value >= t.fps:
        return None
    if value < t.fps_critical:
        severity, limit = "critical", t.fps_critical
    elif value < t.fps_high:
        severity, limit = "high", t.fps_high
    else:
        severity, limit = "medium", t.fps
    return Alert(
        LOW_FPS,
        severity,
        f"engine.fps {value:g} < {limit:g}",
        (("fps", f"{value:g}"), ("limit", f"{limit:g}")),
    )


def rate_limit_violations(run: RunSummary, t: Thresholds) -> Alert | None:
    limiter = [o for o in run.outcomes if o.get("family") == "rate_limit"]
    broken = [o for o in limiter if o.get("outcome") in ("failed", "error")]
    unprovoked = [
        s for s in run.samples if s.get("status") == 429 and s.get("expected_status") is False
    ]
    if not limiter and not run.samples:
        raise _Unknown
    if not broken and not unprovoked:
        return None
    parts = []
    if broken:
        reason = str(broken[0].get("reason") or broken[0].get("probe") or "").split(" | ", 1)[0]
        parts.append(f"{len(broken)} rate-limit probe(s) failed (first: {reason})")
    if unprovoked:
        parts.append(f"{len(unprovoked)} paced request(s) met a 429 they did not provoke")
    return Alert(
        RATE_LIMIT_VIOLATIONS,
        "medium",
        "; ".join(parts),
        (("failed_probes", str(len(broken))), ("unprovoked_429", str(len(unprovoked)))),
    )


def slo_page_burn(report: Mapping[str, Any] | None) -> Alert | None:
    """Page-severity multi-window alerts firing on an SLO (overall, not per endpoint)."""
    if not report:
        raise _Unknown
    slos = [
        s for s in report.get("slos") or [] if isinstance(s, dict) and s.get("endpoint") is None
    ]
    if not any(s.get("valid") for s in slos):
        raise _Unknown
    firing = []
    for slo in slos:
        for line in slo.get("alerts") or []:
            if line.get("severity") == "page" and line.get("alert"):
                firing.append(f"{slo.get('slo_name')}: {burn_line(line)}")
    if not firing:
        return None
    return Alert(
        SLO_PAGE_BURN,
        "critical",
        "; ".join(firing),
        (("report_state", str(report.get("state", "?"))),),
    )


def burn_line(line: Mapping[str, Any]) -> str:
    """One firing policy line of an SLO report's JSON, as the notices word it."""
    return (
        f"burn {line.get('long_window_burn_rate', 0):.2f}x "
        f"and {line.get('short_window_burn_rate', 0):.2f}x > "
        f"{line.get('error_budget_burn_rate_threshold', 0):.2f}x "
        f"({line.get('error_budget_policy_step_name')})"
    )


class _Unknown(Exception):
    """The run holds no evidence for this type: it neither fires nor resolves."""


def evaluate_rules(
    run: RunSummary, thresholds: Thresholds, slo_report: Mapping[str, Any] | None = None
) -> dict[str, Alert | None]:
    """Per alert type with evidence: the alert if it fires, None if it is clear."""
    rules = {
        API_DOWN: lambda: api_down(run, thresholds),
        SLOW_RESPONSE: lambda: slow_response(run, thresholds),
        HIGH_MEMORY: lambda: high_memory(run, thresholds),
        LOW_FPS: lambda: low_fps(run, thresholds),
        RATE_LIMIT_VIOLATIONS: lambda: rate_limit_violations(run, thresholds),
        SLO_PAGE_BURN: lambda: slo_page_burn(slo_report),
    }
    out: dict[str, Alert | None] = {}
    for name, rule in rules.items():
        try:
            out[name] = rule()
        except _Unknown:
            continue
    return out


# ----------------------------------------------------------------------------- rate limiting


@dataclass(frozen=True)
class Notification:
    """What to do for one type, and the state to keep whether or not the notice arrives."""

    alert_type: str
    action: str  # firing | resolved | suppressed | none
    alert: Alert | None
    if_sent: NotifiedAlert
    if_not_sent: NotifiedAlert
    reason: str = ""


def decide_notifications(
    verdicts: Mapping[str, Alert | None],
    states: Mapping[str, NotifiedAlert],
    now: float,
    interval_s: float,
) -> list[Notification]:
    """Which notices to send, at most one firing notice per type per ``interval_s``.

    A firing notice goes out when the type fires and none went out in the last interval
    (repeats while it keeps firing, like the health monitor). A resolved notice goes out
    once when a type clears whose last delivered notice was a firing one, so a flapping
    type whose re-fire was suppressed does not resolve twice.
    """
    from slo.notified import NotifiedAlert

    decisions = []
    for name in ALERT_TYPES:
        if name not in verdicts:
            continue
        alert = verdicts[name]
        old = states.get(name, NotifiedAlert(name))
        if alert is not None:
            since = old.since if old.firing and old.since is not None else now
            kept = replace(old, firing=True, since=since, summary=alert.summary)
            if old.last_sent is not None and now - old.last_sent < interval_s:
                ago = now - old.last_sent
                decisions.append(
                    Notification(
                        name, "suppressed", alert, kept, kept,
                        f"last sent {ago:.0f} s ago; at most one per {interval_s:g} s",
                    )
                )  # fmt: skip
                continue
            sent = replace(kept, notified="firing", last_sent=now)
            decisions.append(Notification(name, "firing", alert, sent, kept))
            continue
        cleared = replace(old, firing=False, since=None)
        if old.notified == "firing":
            decisions.append(
                Notification(name, "resolved", None, replace(cleared, notified="resolved"), old)
            )
        else:
            decisions.append(Notification(name, "none", None, cleared, cleared))
    return decisions


# ----------------------------------------------------------------------------- payloads

_COLOURS = {"critical": 0xD9534F, "high": 0xF0AD4E, "medium": 0xF7D154, "resolved": 0x5CB85C}


def headline(decision: Notification, run: RunSummary) -> str:
    if decision.action == "resolved":
        return f"[RESOLVED] {decision.alert_type} on {run.environment}"
    assert decision.alert is not None
    return f"[FIRING] {decision.alert_type} ({decision.alert.severity}) on {run.environment}"


def _summary(decision: Notification) -> str:
    if decision.alert is not None:
        return decision.alert.summary
    previous = decision.if_not_sent.summary
    return "cleared" + (f" (was: {previous})" if previous else "")


def _facts(decision: Notification, run: RunSummary, context: Context) -> list[tuple[str, str]]:
    facts = [("environment", run.environment), ("target", run.target), ("run", run.run_id)]
    if run.commit:
        facts.append(("commit", run.commit[:12]))
    if decision.alert is not None:
        facts.extend(decision.alert.facts)
    if context.pipeline_url:
        facts.append(("pipeline", context.pipeline_url))
    return facts


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(
    fmt: str, decision: Notification, run: RunSummary, context: Context, now: float
) -> dict[str, Any]:
    """The JSON body for one notice in the chosen webhook format."""
    title = headline(decision, run)
    summary = _summary(decision)
    facts = _facts(decision, run, context)
    severity = decision.alert.severity if decision.alert is not None else "resolved"
    colour = _COLOURS.get(severity, 0x999999)
    if fmt == "slack":
        return {
            "text": _slack_escape(f"{title}: {summary}"),
            "attachments": [
                {
                    "color": f"#{colour:06x}",
                    "title": _slack_escape(title),
                    "text": _slack_escape(summary),
                    "fields": [
                        {"title": k, "value": _slack_escape(v), "short": len(v) < 40}
                        for k, v in facts
                    ],
                    "footer": "spacetime-probes",
                    "ts": int(now),
                }
            ],
        }
    if fmt == "discord":
        return {
            "username": "spacetime-probes",
            "content": _cut(f"**{title}**: {summary}", 2000),
            "embeds": [
                {
                    "title": _cut(title, 256),
                    "description": _cut(summary, 4096),
                    "color": colour,
                    "fields": [
                        {"name": _cut(k, 256), "value": _cut(v or "-", 1024), "inline": True}
                        for k, v in facts[:25]
                    ],
                    "timestamp": _iso(now),
                    "footer": {"text": "spacetime-probes"},
                }
            ],
            # Target-controlled text must never ping @everyone.
            "allowed_mentions": {"parse": []},
        }
    if fmt == "generic":
        alert = decision.alert
        return {
            "source": "spacetime-probes",
            "status": "resolved" if decision.action == "resolved" else "firing",
            "alert_type": decision.alert_type,
            "severity": alert.severity if alert else None,
            "environment": run.environment,
            "target": run.target,
            "summary": summary,
            "facts": dict(facts),
            "run_id": run.run_id,
            "commit": run.commit,
            "since": _iso(decision.if_sent.since) if decision.if_sent.since else None,
            "pipeline_url": context.pipeline_url,
            "job_url": context.job_url,
            "timestamp": _iso(now),
        }
    raise ValueError(f"unknown webhook format {fmt!r}")


def guess_format(url: str) -> str:
    """slack for hooks.slack.com, discord for discord(app).com webhooks, else generic."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "hooks.slack.com":
        return "slack"
    if host in {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"}:
        return "discord"
    return "generic"


def describe_url(url: str) -> str:
    """What may be printed about a webhook URL: its scheme and host, never its path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


# ----------------------------------------------------------------------------- shell


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``slo notify``: the arguments, added to ``slo``'s ``notify`` parser."""
    p.add_argument("--results", type=Path, default=Path("reports/results.jsonl"))
    p.add_argument(
        "--ledger",
        type=Path,
        default=Path(os.environ.get("SLO_LEDGER", "reports/slo-ledger.sqlite")),
        help="the SLO ledger holding the alert state (default $SLO_LEDGER)",
    )
    p.add_argument("--slo-report", type=Path, help="slo report's JSON, for SLO_PAGE_BURN")
    p.add_argument(
        "--webhook",
        default=None,
        help="webhook URL (default $ALERT_WEBHOOK_URL); without one, print only",
    )
    p.add_argument(
        "--alertmanager",
        default=None,
        metavar="URL",
        help="Alertmanager base URL (default $ALERTMANAGER_URL): post the alerts to its v2 "
        "API and leave grouping, dedup, silences and routing to it; never printed",
    )
    p.add_argument(
        "--format",
        choices=(*FORMATS, "auto"),
        default=os.environ.get("ALERT_WEBHOOK_FORMAT") or "auto",
        help="payload format (default auto: from the URL's host, else generic)",
    )
    p.add_argument("--interval", type=float, default=Thresholds.interval_s, metavar="SECONDS")
    p.add_argument("--slow-ms", type=float, default=Thresholds.slow_ms)
    p.add_argument("--slow-percentile", type=float, default=Thresholds.slow_percentile, metavar="P")
    p.add_argument("--memory-gib", type=float, default=Thresholds.memory_gib)
    p.add_argument("--fps", type=float, default=Thresholds.fps)
    p.add_argument("--now", type=float, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=10.0, help="per webhook request, seconds")


def _read_report(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from slo.errors import SloError

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None  # the report job did not get that far: SLO_PAGE_BURN is unknown
    except (OSError, ValueError) as exc:
        raise SloError(str(path), "(file)", f"expected the SLO report's JSON ({exc})") from None
    return value if isinstance(value, dict) else None


@dataclass
class Delivery:
    url: str
    fmt: str
    timeout: float
    errors: list[str] = field(default_factory=list)

    def send(self, body: dict[str, Any]) -> str | None:
        """POST the body; None when delivered, else one line (never the URL)."""
        import httpx

        problem = "not sent"
        for attempt in (1, 2):
            delay = 1.0
            try:
                response = httpx.post(
                    self.url, json=body, timeout=self.timeout, follow_redirects=False
                )
            except httpx.HTTPError as exc:  # its message may hold the URL: name only
                problem, retry = type(exc).__name__, True
            else:
                if 200 <= response.status_code < 300:
                    return None
                problem = f"HTTP {response.status_code}"
                retry = response.status_code == 429 or response.status_code >= 500
                try:
                    delay = min(float(response.headers.get("retry-after", "1")), 5.0)
                except ValueError:
                    delay = 1.0
            if not retry or attempt == 2:
                return problem
            time.sleep(max(delay, 0.0))
        return problem


def _problem(exc_or_response: Any) -> str:
    """One line about a failed request, never its URL (a message may hold it)."""
    import httpx

    if isinstance(exc_or_response, httpx.Response):
        text = " ".join(exc_or_response.text.split())[:160]
        return f"HTTP {exc_or_response.status_code}" + (f" ({text})" if text else "")
    return type(exc_or_response).__name__


def _request(method: str, url: str, timeout: float, **kwargs: Any) -> tuple[Any, str | None]:
    """One request with one retry on a transport error, a 429 or a 5xx."""
    import httpx

    problem = "not sent"
    for attempt in (1, 2):
        try:
            response = httpx.request(method, url, timeout=timeout, follow_redirects=False, **kwargs)
        except httpx.HTTPError as exc:
            problem, retry = _problem(exc), True
        else:
            if 200 <= response.status_code < 300:
                return response, None
            problem = _problem(response)
            retry = response.status_code == 429 or response.status_code >= 500
        if not retry or attempt == 2:
            break
        time.sleep(1.0)
    return None, problem


def notify_alertmanager(
    base_url: str,
    verdicts: Mapping[str, Alert | None],
    run: RunSummary,
    context: Context,
    report: Mapping[str, Any] | None,
    now: float,
    ttl_seconds: float,
    timeout: float,
) -> int:
    """Post this run's alerts and resolutions to Alertmanager; the number of failures."""
    from slo import alertmanager as am

    url = am.alerts_url(base_url)
    failures = 0
    postings = am.firing(verdicts, run, context, report, now, ttl_seconds)
    response, problem = _request("GET", url, timeout, params=am.active_filter(run))
    if problem is None:
        try:
            active = am.active_labels(response.json())
        except ValueError as exc:
            problem = f"unexpected answer ({exc})"
    if problem is not None:
        failures += 1
        print(
            f"slo: notify: alertmanager: active alerts not read: {problem}; "
            "no resolutions sent this run",
            file=sys.stderr,
        )
        active = []
    postings += am.resolutions(active, verdicts, run, context, postings, now)
    if not postings:
        print("slo: notify: alertmanager: nothing firing, nothing to resolve")
        return failures
    _, problem = _request("POST", url, timeout, json=[p.body for p in postings])
    for posting in postings:
        if problem is None:
            print(f"slo: notify: {posting.line} [sent: alertmanager]")
        else:
            print(
                f"slo: notify: {posting.line} [NOT delivered: alertmanager: {problem}]",
                file=sys.stderr,
            )
    return failures + (1 if problem is not None else 0)


def run(args: argparse.Namespace) -> int:
    """``slo notify``: 0, 3 when a notice was not delivered; :class:`slo.errors.SloError`
    (bad input, exit 2) is left to ``slo``'s one error line."""
    from slo.errors import SloError
    from slo.files import read_json_lines
    from slo.notified import AlertStore

    url = args.webhook or os.environ.get("ALERT_WEBHOOK_URL") or None
    alertmanager = args.alertmanager or os.environ.get("ALERTMANAGER_URL") or None
    if alertmanager is not None:
        from slo.alertmanager import valid_url

        if not valid_url(alertmanager):
            where = "--alertmanager" if args.alertmanager else "$ALERTMANAGER_URL"
            raise SloError(
                "(command line)",
                "slo notify",
                f"{where}: expected an http(s) URL with a host (value not shown)",
            )
    thresholds = Thresholds(
        slow_ms=args.slow_ms,
        slow_percentile=args.slow_percentile,
        memory_gib=args.memory_gib,
        fps=args.fps,
        interval_s=args.interval,
    )
    now = args.now if args.now is not None else time.time()
    context = Context(
        pipeline_url=os.environ.get("CI_PIPELINE_URL"),
        job_url=os.environ.get("CI_JOB_URL"),
        project=os.environ.get("CI_PROJECT_PATH"),
    )
    failures = 0
    run = last_run(read_json_lines(args.results))
    if run is None:
        raise SloError(str(args.results), "run_id", "expected records of a probe run")
    report = _read_report(args.slo_report)
    if report is not None and report.get("environment") not in (None, run.environment):
        report = None  # another environment's report says nothing about this run
    verdicts = evaluate_rules(run, thresholds, report)
    firing = [name for name, alert in verdicts.items() if alert is not None]
    print(
        f"slo: notify: {run.environment}: firing: {', '.join(firing) or 'none'}; "
        f"unknown: {', '.join(t for t in ALERT_TYPES if t not in verdicts) or 'none'}"
    )
    fmt = args.format if args.format != "auto" else guess_format(url or "")
    delivery = Delivery(url, fmt, args.timeout) if url else None
    if alertmanager is not None:
        from slo.alertmanager import TTL_RUNS

        failures += notify_alertmanager(
            alertmanager, verdicts, run, context, report, now,
            TTL_RUNS * thresholds.interval_s, args.timeout,
        )  # fmt: skip
        if delivery is None:  # the webhooks' own dedup and state are not needed
            return 3 if failures else 0
    with contextlib.ExitStack() as stack:
        # Print-only (no webhook) leaves the ledger as it is, and never creates one.
        store = None
        if delivery is not None or args.ledger.exists():
            store = stack.enter_context(AlertStore.open(args.ledger))
        states = store.load(run.environment) if store is not None else {}
        decisions = decide_notifications(verdicts, states, now, thresholds.interval_s)
        kept: list[NotifiedAlert] = []
        for decision in decisions:
            if decision.action == "none":
                kept.append(decision.if_sent)
                continue
            state = "resolved" if decision.action == "resolved" else "firing"
            label = f"slo: notify: {decision.alert_type} {state}"
            if decision.alert is not None:
                label += f" ({decision.alert.severity}): {decision.alert.summary}"
            if decision.action == "suppressed":
                print(f"{label} [suppressed: {decision.reason}]")
                kept.append(decision.if_sent)
                continue
            if delivery is None:
                print(f"{label} [not sent: no webhook configured]")
                continue
            problem = delivery.send(payload(fmt, decision, run, context, now))
            if problem is None:
                print(f"{label} [sent: {fmt} webhook {describe_url(delivery.url)}]")
                kept.append(decision.if_sent)
            else:
                failures += 1
                print(
                    f"{label} [NOT delivered: {fmt} webhook {describe_url(delivery.url)}: "
                    f"{problem}]",
                    file=sys.stderr,
                )
                kept.append(decision.if_not_sent)
        if delivery is not None and store is not None:
            store.save(run.environment, kept, now)
    return 3 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m slo.notify ...``: an alias of ``slo notify ...``."""
    from slo.cli import main as slo_main

    return slo_main(["notify", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
