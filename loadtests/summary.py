"""End-of-run figures from the merged tallies: exact per-endpoint percentiles, the open
model's schedule keeping, the lines printed and the `--st-summary` document. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtests.latency import (
    EndpointKey,
    LatencyBook,
    Tally,
    new_histogram,
    percentile_ms,
    release,
)
from loadtests.thresholds import Check, EndpointSummary, Policy, checks, percentile_label


def endpoint_summaries(book: LatencyBook, percentile: float) -> list[EndpointSummary]:
    """What the thresholds judge: one summary per endpoint over the whole run."""
    return [_summary(key, tally, percentile) for key, tally in book.endpoints()]


def _summary(key: tuple[str, str], tally: Tally, percentile: float) -> EndpointSummary:
    return EndpointSummary(
        method=key[0],
        endpoint=key[1],
        total=tally.total,
        answered=tally.answered,
        failed=tally.failed,
        rate_limited=tally.rate_limited,
        within_sla=tally.within_sla,
        percentile_ms=percentile_ms(tally.hdr, percentile),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def exact_table(book: LatencyBook, percentile: float) -> list[str]:
    """Exact per-endpoint figures, printed above Locust's bucketed ones."""
    label = percentile_label(percentile)
    lines = [
        f"exact latency (HdrHistogram, ms): endpoint, requests, 429, errors, p50, {label}, p99, max"
    ]
    for (method, endpoint), t in book.endpoints():
        max_ms = t.hdr.get_max_value() / 1000.0 if t.hdr is not None and t.answered else None
        lines.append(
            f"  {method} {endpoint}: {t.total}, {t.rate_limited}, {t.failed}, "
            f"{_ms(percentile_ms(t.hdr, 50))}, {_ms(percentile_ms(t.hdr, percentile))}, "
            f"{_ms(percentile_ms(t.hdr, 99))}, {_ms(max_ms)}"
        )
    return lines


def open_figures(book: LatencyBook) -> dict[str, Any]:
    """The open model's counts and its p50/p99 over all endpoints, corrected and not."""
    corrected, uncorrected = new_histogram(), new_histogram()
    for _, tally in book.endpoints():
        if tally.hdr is not None:
            corrected.add(tally.hdr)
        if tally.hdr_uncorrected is not None:
            uncorrected.add(tally.hdr_uncorrected)
    figures = {
        **book.open_counts.as_dict(),
        "p99_corrected_ms": percentile_ms(corrected, 99),
        "p99_uncorrected_ms": percentile_ms(uncorrected, 99),
        "p50_corrected_ms": percentile_ms(corrected, 50),
        "p50_uncorrected_ms": percentile_ms(uncorrected, 50),
    }
    release(corrected)
    release(uncorrected)
    return figures


def open_line(figures: dict[str, Any]) -> str:
    f = figures
    return (
        f"open model: {f['intended']} due, {f['sent']} sent ({f['late']} late), "
        f"{f['dropped']} dropped, {f['unsent']} still queued at stop; "
        f"p99 corrected {_ms(f['p99_corrected_ms'])} ms, "
        f"uncorrected {_ms(f['p99_uncorrected_ms'])} ms"
    )


def check_lines(results: Sequence[Check]) -> list[str]:
    """The k6-style end summary: a mark, the figure and its limit per threshold."""
    return ["thresholds:", *(f"  {c.describe()}" for c in results)]


def passed_line(policy: Policy) -> str:
    return (
        f"thresholds passed: {percentile_label(policy.percentile)} <= "
        f"{policy.sla_ms:g} ms on every endpoint, error ratio <= "
        f"{policy.max_error_ratio:g}, 429 ratio <= {policy.max_rate_limited_ratio:g}"
    )


def document(
    book: LatencyBook,
    summaries: Sequence[EndpointSummary],
    policy: Policy,
    *,
    run_id: str | None,
    failure: str | None,
    exit_code: int,
    open_model: bool,
) -> dict[str, Any]:
    """The `--st-summary` JSON: verdict and exact figures, for CI and the self-tests."""
    endpoints = [
        {
            "method": method,
            "endpoint": endpoint,
            "total": t.total,
            "answered": t.answered,
            "failed": t.failed,
            "rate_limited": t.rate_limited,
            "server_errors": t.server_errors,
            "within_sla": t.within_sla,
            "p50_ms": percentile_ms(t.hdr, 50),
            "p95_ms": percentile_ms(t.hdr, 95),
            "p99_ms": percentile_ms(t.hdr, 99),
            "p99_uncorrected_ms": percentile_ms(t.hdr_uncorrected, 99),
        }
        for (method, endpoint), t in book.endpoints()
    ]
    return {
        "run_id": run_id,
        "exit_code": exit_code,
        "passed": failure is None,
        "reason": failure,
        "requests": sum(s.total for s in summaries),
        "sla_ms": policy.sla_ms,
        "percentile": policy.percentile,
        "endpoints": endpoints,
        "open_model": open_figures(book) if open_model else None,
        "late_folded": book.late_folded,
    }


def live_document(
    tallies: Sequence[tuple[EndpointKey, Tally]],
    policy: Policy,
    *,
    intended: int = 0,
    dropped: int = 0,
) -> dict[str, Any]:
    """The web UI's view so far: exact figures per endpoint and every threshold's mark."""
    summaries = [_summary(key, tally, policy.percentile) for key, tally in tallies]
    results = checks(summaries, policy, intended=intended, dropped=dropped)
    latency = {c.subject: c for c in results if c.unit == "ms"}
    endpoints = []
    for (method, endpoint), t in tallies:
        name = f"{method} {endpoint}"
        max_ms = t.hdr.get_max_value() / 1000.0 if t.hdr is not None and t.answered else None
        endpoints.append(
            {
                "name": name,
                "safe_name": name,
                "requests": t.total,
                "rate_limited": t.rate_limited,
                "errors": t.failed,
                "p50_ms": percentile_ms(t.hdr, 50),
                "percentile_ms": percentile_ms(t.hdr, policy.percentile),
                "p99_ms": percentile_ms(t.hdr, 99),
                "max_ms": max_ms,
                "verdict": latency[name].describe() if name in latency else "",
            }
        )
    passed = all(c.passed for c in results)
    return {
        "verdict": "passed" if passed else "failed",
        "passed": passed,
        "sla_ms": policy.sla_ms,
        "percentile": policy.percentile,
        "requests": sum(s.total for s in summaries),
        "checks": [c.describe() for c in results],
        "endpoints": endpoints,
    }


def live_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The web UI tab's rows: the verdict, each endpoint, then the run-wide thresholds."""
    if "percentile" not in body:  # no run yet
        return [{"name": "SLA verdict", "verdict": body["verdict"]}]
    label = percentile_label(body["percentile"])
    head = {"name": f"SLA verdict ({label} <= {body['sla_ms']:g} ms)", "verdict": body["verdict"]}
    rows = [head]
    for e in body["endpoints"]:
        rows.append(
            {**e, **{k: _ms(e[k]) for k in ("p50_ms", "percentile_ms", "p99_ms", "max_ms")}}
        )
    endpoint_checks = {e["verdict"] for e in body["endpoints"]}
    rows += [{"name": "run", "verdict": c} for c in body["checks"] if c not in endpoint_checks]
    return rows
