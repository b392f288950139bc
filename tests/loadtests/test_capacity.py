"""`python -m loadtests.capacity`: both tables, units on every figure, no misleading verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.capacity import Limits, build, main
from loadtests.latency import LatencyBook
from loadtests.results import aggregate_fields
from loadtests.traffic import Outcome
from probes.results import SCHEMA
from slo.records import Record, parse_record

RUN = "c" * 32


def records(stages: list[tuple[int, int, Outcome]], *, latency_ms: float = 20.0) -> list[dict]:
    """Per stage (users, requests, outcome of one request in ten): 10 s of aggregates."""
    out = []
    for index, (users, requests, odd) in enumerate(stages):
        book = LatencyBook(200.0, 10.0)
        book.new_segment(index * 10.0)
        for i in range(requests):
            outcome = odd if i % 10 == 0 else Outcome.OK
            book.record("GET", "/scenes", index * 10.0 + i * 10.0 / requests, latency_ms, outcome)
        stage = {"index": index, "users": users, "rate_per_s": None}
        for bucket in book.close_all():
            fields = aggregate_fields(bucket, stage=stage, sla_ms=200.0)
            header = {"schema": SCHEMA, "kind": "aggregate", "run_id": RUN, "seq": len(out),
                      "source": "load", "target": "http://127.0.0.1:9",
                      "environment": "local"}  # fmt: skip
            out.append({**header, **fields})
    return out


def typed(rows: list[dict]) -> list[Record]:
    """The records as the one reader gives them to `build`."""
    return [parse_record(json.dumps(row)) for row in rows]


def test_a_stage_answering_429_is_not_capacity_though_it_burns_no_availability_budget() -> None:
    """`slo capacity` alone called the 429 stage sustainable: a 429 is no availability error."""
    report = build(
        typed(
            records([(10, 100, Outcome.OK), (20, 200, Outcome.OK), (40, 400, Outcome.RATE_LIMITED)])
        ),
        run_id=RUN,
    )
    limited = report.rows[2]
    assert limited.availability_burn_rate == 0.0 and limited.rate_limited_ratio == 0.1
    assert limited.achieved_rps == pytest.approx(36.0) and limited.offered_rps == 40.0
    assert report.knee is not None and report.knee.users == 20
    assert report.verdict() == (
        "capacity (highest stage whose p95 <= 200 ms, error share <= 1 %, 429 share <= 5 %, "
        "burn rate <= 1): 20 users, 20.0 req/s (stage 2)\n"
        "not capacity: stage 3 (40 users, 36.0 req/s): 429 share 10.00 % > 5 %"
    )


def test_errors_within_the_threshold_still_burn_the_budget() -> None:
    """0.5 % errors pass the 1 % threshold but burn a 99.9 % budget 5x: not capacity."""
    stages = [(10, 1000, Outcome.OK), (20, 2000, Outcome.SERVER_ERROR)]
    report = build(typed(records(stages)), run_id=RUN)
    assert report.knee is not None and report.knee.users == 10
    assert report.broken is not None
    assert report.broken.misses == (
        "error share 10.00 % > 1 %",
        "availability burn rate 100.00x > 1x",
    )
    mild = build(typed(records(stages)), run_id=RUN, limits=Limits(max_error_ratio=0.2))
    assert mild.broken is not None
    assert mild.broken.misses == ("availability burn rate 100.00x > 1x",)


def test_both_tables_carry_units_on_every_figure() -> None:
    report = build(typed(records([(10, 100, Outcome.OK), (20, 200, Outcome.OK)])), run_id=RUN)
    text = report.markdown()
    load, slo = text.split("### SLI and error-budget burn rate per stage")
    (row,) = [line for line in load.splitlines() if line.startswith("| 2 |")]
    assert row == (
        "| 2 | 20 | 20.0 req/s | 20.0 req/s | 10.0 s | 200 | 20.0 ms | 20.0 ms | 20.0 ms "
        "| 0.00 % | 0.00 % | yes |"
    )
    assert "availability SLI (objective 99.9 %)" in slo
    assert "latency SLI (<= 200 ms, objective 95 %)" in slo
    (row,) = [line for line in slo.splitlines() if line.startswith("| 2 |")]
    assert row == "| 2 | 20 | 100.000 % | 0.00x | 100.000 % | 0.00x |"


def test_slow_stage_misses_its_latency_and_burn(tmp_path: Path, capsys) -> None:
    path = tmp_path / "load.jsonl"
    rows = records([(10, 100, Outcome.OK)]) + records([(20, 100, Outcome.OK)], latency_ms=250.0)
    rows[-1]["stage"] = {"index": 1, "users": 20, "rate_per_s": None}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(path), "--json", str(tmp_path / "cap.json")]) == 0
    out = capsys.readouterr().out
    assert "not capacity: stage 2 (20 users, 10.0 req/s): p95 250.1 ms > 200 ms; " in out
    assert "latency burn rate 20.00x > 1x" in out
    body = json.loads((tmp_path / "cap.json").read_text())
    assert body["capacity"]["users"] == 10 and body["first_miss"]["users"] == 20


def test_records_without_histograms_still_judge_and_broken_ones_are_one_line(
    tmp_path: Path, capsys
) -> None:
    rows = records([(10, 100, Outcome.OK), (20, 100, Outcome.OK)], latency_ms=450.0)
    for row in rows:
        row["hdr"] = None  # a writer that keeps no histograms
    path = tmp_path / "load.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "p95 > 200 ms (only 0.00 % within it)" in out and "| - | - | - |" in out
    # A broken record is one line naming it, and the rest is still reported (the one
    # reader's rule, as `slo ingest` and `slo capacity` skip and say).
    del rows[0]["total"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(path)]) == 0
    err = capsys.readouterr().err
    assert (
        err
        == f"loadtests.capacity: {path}: 1 bad line(s) skipped (first: line 1: total: missing)\n"
    )
    rows = [row for row in rows if row["stage"]["index"] == 0]
    for row in rows:
        row["kind"] = "outcome"  # no aggregate left at all
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main([str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"loadtests.capacity: {path}: ")
