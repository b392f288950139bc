"""Records in the exact shape docs/results-format.md gives the SLO module."""

from __future__ import annotations

import json
from pathlib import Path

from loadtests.capacity import build
from loadtests.latency import LatencyBook, merge_encoded
from loadtests.results import LoadResults, RunInfo, without_credentials
from loadtests.stages import StageLog
from loadtests.traffic import Outcome
from probes.results import SCHEMA
from slo.sources import read_all

INFO = RunInfo("ab" * 16, "http://127.0.0.1:8080", "local", "adhoc", None)
COMMON = {"schema", "kind", "run_id", "seq", "source", "target", "environment"}
AGGREGATE = COMMON | {
    "ts", "bucket_s", "endpoint", "method", "stage", "total", "answered",
    "server_errors", "rate_limited", "within_sla", "sla_ms", "hdr",
}  # fmt: skip
RUN = COMMON | {"phase", "ts", "profile", "commit", "exit_status", "counts"}


def write_run(path: Path, stages: list[tuple[float, dict, float]]) -> None:
    """One run: per (start, stage, latency) a request; buckets written as they close."""
    book = LatencyBook(200.0, 10.0)
    log = StageLog()
    writer = LoadResults(path, INFO)
    writer.start(1.0)
    for start, stage, latency in stages:
        log.note(start, stage)
        book.record("GET", "/scenes", start, latency, Outcome.OK)
        for bucket in book.close_due(start, 10.0):
            writer.aggregate(bucket, log.for_bucket(bucket.start_s, bucket.bucket_s), 200.0)
    for bucket in book.close_all():
        writer.aggregate(bucket, log.for_bucket(bucket.start_s, bucket.bucket_s), 200.0)
    writer.end(2.0, 0, len(stages))
    writer.close()


def test_records_follow_the_format(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "load.jsonl"
    write_run(path, [(0.0, {"index": 0, "users": 1, "rate_per_s": None}, 12.5)])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in records] == ["run", "aggregate", "run"]
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert list(path.parent.glob(".*.seq")) == []  # the shared writer's counter is removed
    assert all(r["schema"] == SCHEMA and r["source"] == "load" for r in records)
    start, aggregate, end = records
    assert set(start) == RUN and start["phase"] == "start" and start["counts"] is None
    assert set(end) == RUN and end["exit_status"] == 0 and end["counts"] == {"requests": 1}
    assert set(aggregate) == AGGREGATE
    assert aggregate["total"] == aggregate["answered"] == aggregate["within_sla"] == 1
    assert isinstance(aggregate["hdr"], str)
    assert merge_encoded([aggregate["hdr"]]).get_total_count() == 1


def test_a_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "load.jsonl"
    write_run(path, [(0.0, {"index": 0, "users": 1, "rate_per_s": None}, 1.0)])
    path.write_text(path.read_text() + '{"schema": "spacetime-pro')
    assert len(read_all(path)[0]) == 3


def test_a_failed_write_is_remembered_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    results = LoadResults(blocker / "load.jsonl", INFO)  # under a file: cannot be created
    results.start(1.0)
    results.end(2.0, 0, 0)
    results.close()
    assert results.error is not None and results.error.startswith("cannot write results to ")


def test_credentials_never_reach_the_target_field() -> None:
    assert (
        without_credentials("https://u:p@api.example.com:8080/") == "https://api.example.com:8080"
    )


def test_capacity_report_finds_the_knee(tmp_path: Path) -> None:
    path = tmp_path / "load.jsonl"
    rows = []
    for index, (users, latency) in enumerate([(10, 20.0), (20, 60.0), (40, 450.0)]):
        stage = {"index": index, "users": users, "rate_per_s": None}
        rows += [(index * 20 + i * 0.1, stage, latency) for i in range(200)]
    write_run(path, rows)
    report = build(read_all(path)[0], run_id=INFO.run_id)
    assert [r.index for r in report.rows] == [0, 1, 2]
    assert report.rows[0].offered_rps == report.rows[0].achieved_rps == 200 / 20
    assert report.knee is not None and report.knee.users == 20
    assert report.broken is not None and report.broken.users == 40
    text = report.markdown()
    assert "): 20 users, 10.0 req/s (stage 2)" in text
    assert "not capacity: stage 3 (40 users, 10.0 req/s): p95 450.0 ms > 200 ms; " in text
