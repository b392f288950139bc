"""The one rule for "the latest run" of a results file, and the one nearest-rank percentile."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtests.capacity import latest_run as load_latest_run
from loadtests.thresholds import percentile_rank
from slo import notify, runmetrics
from slo.records import parse_record
from slo.runs import hdr_rank, latest_run_id, nearest_rank, percentile, run_order, run_records

SCHEMA = "spacetime-probes/results/1"


def _record(run_id: str, seq: int, kind: str, source: str = "probe", **fields: Any) -> dict:
    return {
        "schema": SCHEMA,
        "kind": kind,
        "run_id": run_id,
        "seq": seq,
        "source": source,
        "target": "http://api.test",
        "environment": "staging",
        **fields,
    }


def run(
    run_id: str,
    started: float,
    *,
    start: bool = True,
    end: bool = True,
    source: str = "probe",
) -> list[dict]:
    """A small run: start, two samples (or aggregates), end; each part optional."""
    out: list[dict] = []
    if start:
        out.append(_record(run_id, 0, "run", source, phase="start", ts=started, profile="p"))
    for i in (1, 2):
        if source == "load":
            fields = {"bucket_s": 10.0, "endpoint": "/scenes", "method": "GET", "total": 1,
                      "answered": 1, "server_errors": 0, "rate_limited": 0, "within_sla": 1,
                      "sla_ms": 200.0}  # fmt: skip
            out.append(_record(run_id, i, "aggregate", source, ts=started + i, **fields))
        else:
            fields = {"endpoint": "/performance", "method": "GET", "status": 200,
                      "latency_ms": 10.0 * i, "probe": "p",
                      "family": "latency"}  # fmt: skip
            out.append(_record(run_id, i, "sample", source, ts=started + i, **fields))
    if end:
        out.append(_record(run_id, 3, "run", source, phase="end", ts=started + 3, exit_status=0))
    return out


def test_the_run_started_last_wins_whatever_the_file_order() -> None:
    records = run("b", 2000.0) + run("c", 3000.0) + run("a", 1000.0)
    assert run_order(records) == ["a", "b", "c"]
    assert latest_run_id(records) == "c"


def test_a_killed_run_without_an_end_record_counts() -> None:
    records = run("old", 1000.0) + run("killed", 2000.0, end=False)
    assert latest_run_id(records) == "killed"
    assert [r["seq"] for r in run_records(records, "killed")] == [0, 1, 2]


def test_a_run_without_a_start_record_is_placed_by_its_first_record() -> None:
    headless = run("headless", 2500.0, start=False)  # first record at 2501
    records = run("late", 3000.0) + headless + run("early", 1000.0)
    assert run_order(records) == ["early", "headless", "late"]
    assert latest_run_id(run("early", 1000.0) + headless) == "headless"


def test_ties_go_to_the_later_run_in_the_file() -> None:
    records = run("first", 1000.0) + run("second", 1000.0)
    assert latest_run_id(records) == "second"
    assert latest_run_id(list(reversed(run("x", 5.0))) + run("y", 5.0)) == "y"


def test_interleaved_runs_and_other_sources() -> None:
    probe, load = run("probe-run", 1000.0), run("load-run", 9000.0, source="load")
    records = [r for pair in zip(probe, load, strict=True) for r in pair]
    assert latest_run_id(records) == "probe-run"
    assert latest_run_id(records, "load") == "load-run"
    assert latest_run_id(run("p", 1.0), "load") is None
    assert latest_run_id([]) is None


def test_typed_records_follow_the_same_rule() -> None:
    raw = run("b", 2000.0) + run("a", 1000.0, start=False) + run("c", 1500.0, end=False)
    typed = [parse_record(json.dumps(r)) for r in raw]
    assert run_order(typed) == run_order(raw) == ["a", "c", "b"]


def test_records_without_a_run_id_or_a_time_are_ignored_or_ordered_first() -> None:
    timeless = [_record("timeless", 0, "outcome", ts="soon")]
    records = [{"kind": "sample"}, *run("a", 1000.0), *timeless, {"run_id": 7}]
    assert run_order(records) == ["timeless", "a"]


def test_every_reader_picks_the_same_run() -> None:
    records = run("new", 2000.0, end=False) + run("headless", 1500.0, start=False)
    records += run("old", 1000.0)
    last = notify.last_run(records)
    assert last is not None and last.run_id == "new" and not last.ended
    metrics = runmetrics.gitlab_metrics(records)
    assert 'spacetime_probe_requests{result="total"} 2.0' in metrics
    load = run("load-new", 2000.0, source="load") + run("load-old", 1000.0, source="load")
    # a load run that wrote no aggregate yet is not the capacity report's run
    load.append(_record("empty", 0, "run", "load", phase="start", ts=3000.0))
    assert load_latest_run([parse_record(json.dumps(r)) for r in load]) == "load-new"


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60), st.floats(0.001, 100))
def test_percentile_is_the_nearest_rank_observed_value(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    n = len(values)
    at_or_below = sum(1 for v in values if v <= p)
    below = sum(1 for v in values if v < p)
    assert at_or_below >= q / 100 * n - 1e-9  # at least q % at or below it
    assert below < q / 100 * n  # and it is the least such value
    assert nearest_rank(n, q) == max(1, math.ceil(q / 100 * n))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60))
def test_percentile_ends(values: list[float]) -> None:
    assert percentile(values, 100) == max(values)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 50) == sorted(values)[(len(values) + 1) // 2 - 1]


def test_percentile_examples() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(range(1, 18)), 95) == 17  # ceil(16.15) = 17
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


@given(st.integers(0, 100_000), st.floats(0.0, 100.0))
def test_hdr_rank_is_the_load_verdicts_rank(count: int, q: float) -> None:
    assert percentile_rank(count, q) == hdr_rank(count, q)
    assert hdr_rank(count, q) >= 1
    if q / 100 * count >= 0.5:  # round half up, from rank 1 on
        assert abs(hdr_rank(count, q) - q / 100 * count) <= 0.5 + 1e-9
    assert hdr_rank(17, 95) == 16 and nearest_rank(17, 95) == 17  # where the two ranks differ
