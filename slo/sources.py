"""Adapters at the edge: results files in, the ledger or Prometheus as SLI sources, the
Pushgateway out. Everything here turns outside data into ``SloInput``/records and hands
it to the pure core.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import httpx

from slo import budget, timeline
from slo.errors import SloError
from slo.files import open_results
from slo.model import BUCKET_SECONDS, OVERALL, Budgeting, Counts, ProbeRow, Slo, SloInput, Spec
from slo.policy import needed_windows
from slo.promql import escape, selector
from slo.records import BadRecord, Record, parse_record
from slo.store import IngestResult, Ledger, window_end

# ----------------------------------------------------------------------------- results files


def read_results(path: Path, result: IngestResult) -> Iterator[Record]:
    """Stream the records of a results file, counting bad lines instead of failing.

    A last line without its newline that does not parse is the normal trace of a killed
    run: it is counted as truncated, not as garbage.
    """
    handle = open_results(path)
    with handle:
        lineno = 0
        while True:
            try:
                raw = handle.readline()
            except OSError as exc:
                raise SloError(
                    str(path), f"line {lineno + 1}", f"expected a readable file ({exc.strerror})"
                ) from None
            if not raw:
                break
            lineno += 1
            result.lines += 1
            text = raw.strip()
            if not text:
                continue
            try:
                yield parse_record(text.decode("utf-8"))
            except (BadRecord, UnicodeDecodeError) as exc:
                if not raw.endswith(b"\n"):
                    result.truncated += 1
                    continue
                result.garbage += 1
                if len(result.problems) < 3:
                    reason = exc if isinstance(exc, BadRecord) else "not UTF-8"
                    result.problems.append(f"line {lineno}: {reason}")


def read_all(path: Path) -> tuple[list[Record], str | None]:
    """Every record of a results file and, when any line was left out, the one line
    that says so (``path: N bad line(s) skipped (first: ...)``), for the readers that
    report rather than ingest (the capacity commands): a bad line is said, never a
    reason to lose the rest."""
    result = IngestResult(str(path))
    records = list(read_results(path, result))
    skipped = result.skipped()
    return records, None if skipped is None else f"{path}: {skipped}"


def ingest_files(
    ledger: Ledger, paths: Sequence[Path], slos: Sequence[Slo], now: float
) -> list[IngestResult]:
    """Ingest each file in its own transaction; a file with no record at all is an error.

    That includes an empty file (or one of blank lines, or only a truncated line): a run
    that wrote nothing is not a run with nothing to report, and "0 records" with exit 0
    would let a broken probe job pass unnoticed.
    """
    results = []
    for path in paths:
        result = IngestResult(str(path))
        ledger.ingest(read_results(Path(path), result), slos, result, now)
        if result.records == 0:
            raise SloError(
                str(path),
                result.problems[0].split(":")[0] if result.problems else "(file)",
                f"expected JSON Lines records of spacetime-probes/results/1, {_none_found(result)}",
            )
        results.append(result)
    return results


def _none_found(result: IngestResult) -> str:
    if result.garbage:
        return "found none"
    if result.truncated:
        return "found only a truncated last line"
    return "the file is empty" if result.lines == 0 else "the file holds only blank lines"


# ----------------------------------------------------------------------------- ledger source


def ledger_inputs(ledger: Ledger, spec: Spec, environment: str, now: float) -> list[SloInput]:
    """Window counts per SLO and endpoint from the ledger (overall = sum of endpoints).

    Every window ends at ``now`` (to the second, :func:`slo.store.window_end`): a 5m window
    at 23:30:03 is ``[23:25:03, 23:30:03)``. (Until schema 2 windows ended at the minute
    boundary after ``now``, so a replay mid-minute counted events after ``now``.)
    """
    end = window_end(now)
    inputs: list[SloInput] = []
    for slo in spec.slos:
        if not slo.applies_to(environment):
            continue
        windows = needed_windows(spec.policy, slo.period_seconds)
        sources = [s for s in slo.sources if slo.counts_source(environment, s)]
        since = end - slo.period_seconds
        if slo.budgeting is Budgeting.TIMESLICES:
            inputs.extend(_timeslice_inputs(ledger, slo, environment, sources, end, windows))
            continue
        per_endpoint = ledger.window_sums(slo.name, environment, sources, end, windows)
        overall = {w: Counts() for w in windows}
        for counts in per_endpoint.values():
            overall = {w: overall[w] + counts[w] for w in windows}
        first = ledger.first_bucket(slo.name, environment, sources, since, end)
        step = timeline.choose_step(end - (since if first is None else first))
        series = ledger.series(slo.name, environment, sources, since, end, step)
        overall_series = tuple(budget.merge_rows(series.values()))
        inputs.append(SloInput(slo.name, OVERALL, overall, overall_series, step))
        if slo.per_endpoint:
            inputs.extend(
                SloInput(slo.name, k, v, tuple(series.get(k, ())), step)
                for k, v in sorted(per_endpoint.items())
            )
    return inputs


def _timeslice_inputs(
    ledger: Ledger, slo: Slo, environment: str, sources: Sequence[str], end: int, windows
) -> list[SloInput]:
    """Slices are judged on the events of their own slice: overall slices are judged on
    all endpoints together, not as a count of endpoint slices."""
    size = slo.timeslice_seconds or BUCKET_SECONDS
    target = slo.timeslice_target_ratio or 1.0
    per_endpoint = ledger.slo_rows(
        slo.name, environment, sources, end - slo.period_seconds, end, step=size
    )
    groups = [(OVERALL, budget.merge_rows(per_endpoint.values()))]
    if slo.per_endpoint:
        groups.extend(sorted(per_endpoint.items()))
    out = []
    for endpoint, rows in groups:
        slices = budget.to_timeslices(rows, size, target)
        # The charts count slices per step: a whole number of slices, at most ~720 steps.
        span = end - (slices[0][0] if slices else end - slo.period_seconds)
        step = -(-max(size, timeline.choose_step(span)) // size) * size
        out.append(
            SloInput(
                slo.name,
                endpoint,
                budget.window_counts(slices, end, windows),
                tuple(timeline.regroup(slices, step)),
                step,
            )
        )
    return out


def pick_environment(ledger: Ledger, requested: str | None) -> str:
    """The ``--environment`` given, or the ledger's only one; several is a usage error.

    One the ledger holds no data for is an error too, naming those it holds: a misspelt
    ``--environment`` must not read as "no data", which ``on_no_data: go`` lets through.
    """
    found = ledger.environments()
    if requested:
        if requested in found:
            return requested
        if found:
            raise SloError(
                str(ledger.path),
                "--environment",
                f"expected one of {', '.join(found)} (the environments the ledger holds "
                f"data for), got {requested!r}",
            )
    if len(found) == 1:
        return found[0]
    if not found:
        raise SloError(
            str(ledger.path), "(ledger)", "expected ingested results, the ledger is empty"
        )
    raise SloError(
        str(ledger.path),
        "--environment",
        f"expected one of {', '.join(found)} (the ledger holds several)",
    )


# ----------------------------------------------------------------------------- Prometheus


class PrometheusSource:
    """Reads SLIs back from a Prometheus server's HTTP API (``/api/v1/query``).

    It queries the counters that ``slo push`` exports (``slo_events_total``,
    ``slo_good_events_total``) with ``increase()`` over each window at ``now``; Prometheus
    extrapolates at window edges, so counts are not integral, but the ratios (SLI, burn
    rates) match the ledger's on the same data.
    """

    def __init__(self, url: str, client: httpx.Client | None = None, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self._owned = client is None
        self.client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._owned:
            self.client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, str]) -> list[dict]:
        try:
            response = self.client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise SloError(
                self.url, "(prometheus)", f"expected a reachable Prometheus ({exc})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            raise SloError(
                self.url,
                "(prometheus)",
                f"expected a Prometheus API answer, got HTTP {response.status_code}",
            ) from None
        if not isinstance(body, dict) or body.get("status") != "success":
            message = body.get("error") if isinstance(body, dict) else None
            raise SloError(
                self.url, params.get("query", path), f"expected a successful query ({message})"
            )
        data = body.get("data") or {}
        return list(data.get("result") or [])

    def query(self, promql: str, at: float) -> list[tuple[dict[str, str], float]]:
        """Instant vector at ``at``: ``[(labels, value)]``; NaN samples are dropped."""
        out = []
        for item in self._get("/api/v1/query", {"query": promql, "time": f"{at:.3f}"}):
            value = float(item["value"][1])
            if not math.isnan(value):
                out.append((item.get("metric", {}), value))
        return out

    def query_range(
        self, promql: str, start: float, end: float, step: int
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        out = []
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)}
        for item in self._get("/api/v1/query_range", params):
            points = [(float(t), float(v)) for t, v in item.get("values", [])]
            out.append((item.get("metric", {}), [(t, v) for t, v in points if not math.isnan(v)]))
        return out

    def inputs(self, spec: Spec, environment: str, now: float) -> list[SloInput]:
        """The same ``SloInput`` shape the ledger gives, from PromQL."""
        from slo.durations import format_duration

        inputs: list[SloInput] = []
        for slo in spec.slos:
            if not slo.applies_to(environment):
                continue
            if slo.budgeting is Budgeting.TIMESLICES:
                raise SloError(
                    spec.origin,
                    f"slo {slo.name}",
                    "expected Occurrences budgeting with --source prometheus",
                )
            matchers = selector(slo, environment)
            per_endpoint: dict[str, dict[int, Counts]] = {}
            overall: dict[int, Counts] = {}
            for window in needed_windows(spec.policy, slo.period_seconds):
                rng = format_duration(window)
                totals = {}
                for metric in ("slo_good_events_total", "slo_events_total"):
                    totals[metric] = self.query(
                        f"sum by (method, endpoint) (increase({metric}{{{matchers}}}[{rng}]))", now
                    )
                good = {_endpoint(m): v for m, v in totals["slo_good_events_total"]}
                for labels, total in totals["slo_events_total"]:
                    key = _endpoint(labels)
                    counts = Counts(min(good.get(key, 0.0), total), total)
                    per_endpoint.setdefault(key, {})[window] = counts
                    overall[window] = overall.get(window, Counts()) + counts
            # Prometheus keeps no "first sample" cheaply: the step covers the whole
            # period, and the charts start at the first step with events.
            step = timeline.choose_step(slo.period_seconds)
            series: dict[str, dict[float, list[float]]] = {}
            for index, metric in enumerate(("slo_good_events_total", "slo_events_total")):
                for labels, points in self.query_range(
                    f"sum by (method, endpoint) "
                    f"(increase({metric}{{{matchers}}}[{format_duration(step)}]))",
                    now - slo.period_seconds + step,
                    now,
                    step,
                ):
                    rows = series.setdefault(_endpoint(labels), {})
                    for ts, value in points:
                        rows.setdefault(ts - step, [0.0, 0.0])[index] = value
            by_endpoint = {
                key: tuple((int(t), min(g, n), n) for t, (g, n) in sorted(rows.items()))
                for key, rows in series.items()
            }
            merged = tuple(budget.merge_rows(by_endpoint.values()))
            inputs.append(SloInput(slo.name, OVERALL, overall, merged, step))
            if slo.per_endpoint:
                inputs.extend(
                    SloInput(slo.name, k, v, by_endpoint.get(k, ()), step)
                    for k, v in sorted(per_endpoint.items())
                )
        return inputs

    def probe_rows(self, environment: str, now: float) -> list[ProbeRow]:
        """Last outcome per probe from ``probe_success`` (tallies are not kept there)."""
        rows = []
        for labels, value in self.query(
            f'probe_success{{environment="{escape(environment)}"}}', now
        ):
            outcome = "passed" if value >= 1 else "failed"
            rows.append(
                ProbeRow(
                    labels.get("probe", "?"),
                    labels.get("family", ""),
                    labels.get("endpoint") or None,
                    labels.get("method") or None,
                    outcome,
                    now,
                    None,
                    int(value >= 1),
                    int(value < 1),
                    0,
                    0,
                )
            )
        return sorted(rows, key=lambda r: (r.family, r.probe))


def _endpoint(labels: dict[str, str]) -> str:
    return f"{labels.get('method', '')} {labels.get('endpoint', '')}"


# ----------------------------------------------------------------------------- Pushgateway


def push(
    gateway: str,
    bodies: dict[str, bytes],
    job: str = "spacetime_slo",
    client: httpx.Client | None = None,
) -> list[str]:
    """PUT each environment's metrics to its own group (``job``, ``environment``).

    PUT replaces the group, so a probe that no longer exists stops being reported.
    """
    owned = client is None
    client = client or httpx.Client(timeout=15.0)
    try:
        return _push_all(client, gateway, bodies, job)
    finally:
        if owned:
            client.close()


def _push_all(client: httpx.Client, gateway: str, bodies: dict[str, bytes], job: str) -> list[str]:
    done = []
    for environment, body in sorted(bodies.items()):
        group = f"job/{quote(job, safe='')}/environment/{quote(environment, safe='')}"
        url = f"{gateway.rstrip('/')}/metrics/{group}"
        try:
            response = client.put(
                url, content=body, headers={"Content-Type": "text/plain; version=0.0.4"}
            )
        except httpx.HTTPError as exc:
            raise SloError(
                gateway, "(pushgateway)", f"expected a reachable Pushgateway ({exc})"
            ) from None
        if response.status_code >= 300:
            raise SloError(
                gateway,
                "(pushgateway)",
                f"expected 2xx for {environment}, got HTTP {response.status_code}: "
                f"{response.text.strip()[:200]}",
            )
        done.append(environment)
    return done
