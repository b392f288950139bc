"""The SQLite ledger: idempotent ingest, bad lines, foreign files, and exact windows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slo import budget, synth, timeline
from slo import spec as specs
from slo.errors import SloError
from slo.sources import ingest_files, ledger_inputs
from slo.store import SCHEMA_VERSION, Ledger

NOW = 1_767_225_600.0

SPEC = specs.from_path(None)


def _ingest(ledger_path: Path, *files: Path):
    with Ledger.open(ledger_path, create=True) as ledger:
        return ingest_files(ledger, list(files), SPEC.slos, NOW)


def _period_counts(ledger_path: Path, environment: str = "production"):
    with Ledger.open(ledger_path, create=False) as ledger:
        inputs = ledger_inputs(ledger, SPEC, environment, NOW)
    return {(i.slo, i.endpoint): i.windows[28 * 86400] for i in inputs}


def test_ingest_counts_per_slo_endpoint_and_source(write_results, ledger_path: Path) -> None:
    records = synth.simple_run(1, NOW - 600, good=95, slow=3, bad=2)
    records += synth.simple_run(2, NOW - 300, good=10, endpoint=("POST", "/scene"))
    (result,) = _ingest(ledger_path, write_results(records))
    assert (result.records, result.new_records, result.duplicates, result.garbage) == (
        len(records), len(records), 0, 0,
    )  # fmt: skip
    counts = _period_counts(ledger_path)
    assert counts[("availability", "")].total == 110
    assert counts[("availability", "")].good == 108
    assert counts[("availability", "GET /scenes")].total == 100
    assert counts[("latency", "GET /scenes")].total == 100  # 503s are answers
    assert counts[("latency", "GET /scenes")].good == 97
    assert counts[("latency", "POST /scene")].good == 10


def test_ingesting_twice_counts_once(write_results, ledger_path: Path) -> None:
    path = write_results(synth.simple_run(1, NOW - 600, good=50, bad=1))
    _ingest(ledger_path, path)
    (again,) = _ingest(ledger_path, path)
    assert again.new_records == 0 and again.duplicates == again.records
    assert _period_counts(ledger_path)[("availability", "")].total == 51


def test_a_file_that_grew_adds_only_its_new_lines(write_results, ledger_path: Path) -> None:
    records = synth.simple_run(1, NOW - 600, good=40, bad=2)
    head, tail = records[:20], records[20:]
    path = write_results(head)
    _ingest(ledger_path, path)
    path.write_text(synth.dumps(head + tail))  # the run went on
    (grown,) = _ingest(ledger_path, path)
    assert grown.new_records == len(tail)
    assert _period_counts(ledger_path)[("availability", "")].total == 42


def test_concatenated_and_duplicated_runs(write_results, ledger_path: Path) -> None:
    one = synth.simple_run(1, NOW - 900, good=10)
    two = synth.simple_run(2, NOW - 600, good=20, bad=1)
    (result,) = _ingest(ledger_path, write_results(one + two + one))
    assert result.duplicates == len(one)
    assert _period_counts(ledger_path)[("availability", "")].total == 31


def test_garbage_is_skipped_and_counted_and_a_truncated_tail_is_normal(
    tmp_path: Path, ledger_path: Path
) -> None:
    records = synth.simple_run(1, NOW - 600, good=10)
    text = synth.dumps(records[:5]) + "garbage line\n" + '{"schema": 1}\n\xff\n'
    text += synth.dumps(records[5:]) + synth.dumps(synth.simple_run(2, NOW, good=1))[:40]
    path = tmp_path / "mixed.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    (result,) = _ingest(ledger_path, path)
    assert result.garbage == 3
    assert result.truncated == 1
    assert "line 6: not JSON" in result.problems[0]
    assert "bad line(s) skipped" in result.summary()
    assert _period_counts(ledger_path)[("availability", "")].total == 10


def test_a_file_of_nothing_but_garbage_is_an_error(tmp_path: Path, ledger_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("hello\nworld\n")
    with pytest.raises(SloError, match=r"x.jsonl: line 1: expected JSON Lines records"):
        _ingest(ledger_path, path)


def test_load_traffic_never_counts_in_production(write_results, ledger_path: Path) -> None:
    load = synth.load_run(start=NOW - 3600, stages=[(10, 50, 0.5, 0.5)], environment="production")
    probe = synth.simple_run(1, NOW - 600, good=200)
    _ingest(ledger_path, write_results(load + probe))
    counts = _period_counts(ledger_path)
    assert counts[("availability", "")].total == 200  # the load's 15000 are left out
    with Ledger.open(ledger_path, create=False) as ledger:
        assert ledger.source_totals(["availability"], "production", "load", NOW - 86400, NOW)
        steps = ledger.load_steps(ledger.load_runs()[0].run_id)
    assert steps["availability"][0].total == 15_000


def test_a_staging_slo_may_opt_in_to_load(write_results, ledger_path: Path) -> None:
    spec = specs.from_str(
        "slos:\n - {name: availability, sli: availability, objective: 0.99, window: 1d, "
        "environments: [staging], sources: [probe, load]}\n",
        "s.yaml",
    )
    load = synth.load_run(start=NOW - 3600, stages=[(10, 50, 0.0, 0.0)], environment="staging")
    with Ledger.open(ledger_path, create=True) as ledger:
        ingest_files(ledger, [write_results(load)], spec.slos, NOW)
        inputs = ledger_inputs(ledger, spec, "staging", NOW)
    assert inputs[0].windows[86400].total == 15_000


def test_run_history_per_source(write_results, ledger_path: Path) -> None:
    """Runs of one environment per source: each run id once, however often it is ingested."""
    records = synth.simple_run(1, NOW - 5 * 86400, good=5)  # older than the recent span
    records += synth.simple_run(2, NOW - 3600, good=5)
    records += synth.simple_run(3, NOW - 60, good=5)
    records += synth.simple_run(4, NOW + 60, good=5)  # after `until`: not yet, in a replay
    records += synth.simple_run(5, NOW - 60, good=5, environment="staging")
    records += synth.load_run(
        start=NOW - 7200, stages=[(5, 10, 0.0, 0.0)], environment="production"
    )
    path = write_results(records)
    _ingest(ledger_path, path)
    _ingest(ledger_path, path)
    with Ledger.open(ledger_path, create=False) as ledger:
        load, probe = ledger.run_history("production", since=NOW - 3 * 86400, until=NOW)
        (staging,) = ledger.run_history("staging", since=NOW - 3 * 86400, until=NOW)
        assert ledger.run_history("nowhere", since=0, until=NOW) == []
    assert (probe.source, probe.runs, probe.recent_runs) == ("probe", 3, 2)
    assert (probe.first_ts, probe.last_ts) == (NOW - 5 * 86400, NOW - 60)
    assert (probe.environment, probe.since, probe.until) == ("production", NOW - 259200, NOW)
    assert (load.source, load.runs, load.recent_runs, load.first_ts) == ("load", 1, 1, NOW - 7200)
    assert (staging.runs, staging.recent_runs, staging.first_ts) == (1, 1, NOW - 60)


def test_definition_change_is_refused(write_results, ledger_path: Path) -> None:
    _ingest(ledger_path, write_results(synth.simple_run(1, NOW - 60, good=1)))
    changed = specs.from_str(
        "slos:\n - {name: latency, sli: latency, threshold_ms: 300, objective: 0.95, "
        "window: 28d}\n",
        "s.yaml",
    )
    with (
        Ledger.open(ledger_path, create=False) as ledger,
        pytest.raises(SloError, match=r"slo latency: expected definition 'latency<=200ms'"),
    ):
        ledger.check_definitions(changed.slos, record=False)


def test_a_new_slo_can_be_backfilled_from_old_files(write_results, ledger_path: Path) -> None:
    path = write_results(synth.simple_run(1, NOW - 600, good=30, slow=10))
    _ingest(ledger_path, path)
    wider = specs.from_str(
        "slos:\n - {name: latency-500, sli: latency, threshold_ms: 500, objective: 0.9, "
        "window: 28d}\n",
        "s.yaml",
    )
    with Ledger.open(ledger_path, create=True) as ledger:
        (result,) = ingest_files(ledger, [path], wider.slos, NOW)
        inputs = ledger_inputs(ledger, wider, "production", NOW)
    assert result.new_records == 40  # the samples, new for the new SLO only
    assert inputs[0].windows[28 * 86400] == budget.Counts(40.0, 40.0)


def test_schema_wal_and_versions(write_results, ledger_path: Path) -> None:
    _ingest(ledger_path, write_results(synth.simple_run(1, NOW, good=1)))
    conn = sqlite3.connect(ledger_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SloError, match="user_version: expected schema version"):
        Ledger.open(ledger_path, create=False)


def test_foreign_corrupt_and_missing_ledgers(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE users(id)")
    conn.commit()
    conn.close()
    with pytest.raises(
        SloError,
        match=r"foreign.sqlite: \(ledger\): expected a spacetime-probes SLO ledger, found "
        "tables users",
    ):
        Ledger.open(foreign, create=True)
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x07" * 5000)
    with pytest.raises(SloError, match=r"corrupt.sqlite: \(ledger\): expected"):
        Ledger.open(corrupt, create=True)
    text = tmp_path / "text.sqlite"
    text.write_text("just text, not a database\n" * 100)
    with pytest.raises(SloError, match="corrupt"):
        Ledger.open(text, create=True)
    with pytest.raises(SloError, match="run `slo ingest` first"):
        Ledger.open(tmp_path / "missing.sqlite", create=False)


def test_a_failed_ingest_leaves_the_ledger_unchanged(write_results, ledger_path: Path) -> None:
    _ingest(ledger_path, write_results(synth.simple_run(1, NOW - 600, good=5), "a.jsonl"))

    def exploding():
        import json

        from slo.records import parse_record

        for record in synth.simple_run(2, NOW - 300, good=5):
            yield parse_record(json.dumps(record))
        raise OSError("disk went away")

    from slo.store import IngestResult

    with Ledger.open(ledger_path, create=True) as ledger, pytest.raises(OSError):
        ledger.ingest(exploding(), SPEC.slos, IngestResult("x"), NOW)
    assert _period_counts(ledger_path)[("availability", "")].total == 5


minute_rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6 * 24 * 60),
        st.sampled_from([("GET", "/a"), ("PUT", "/b")]),
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=5),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(minute_rows, st.integers(min_value=0, max_value=6 * 24 * 60))
def test_sql_windows_equal_the_pure_windows(tmp_path_factory, rows, end_minute: int) -> None:
    """The hourly roll-up + edge minutes give exactly what the pure function gives."""
    path = tmp_path_factory.mktemp("w") / "l.sqlite"
    base = 1_700_006_400  # hour-aligned
    run = synth.RunBuilder(synth.run_id(7))
    for minute, (method, endpoint), good, bad in rows:
        for _ in range(good):
            run.sample(base + minute * 60 + 1, method, endpoint, 200, 10.0)
        for _ in range(bad):
            run.sample(base + minute * 60 + 2, method, endpoint, 503, 10.0)
    if not run.records:
        return
    file = path.parent / "r.jsonl"
    file.write_text(synth.dumps(run.records))
    end = base + end_minute * 60
    windows = [300, 1800, 3600, 7200, 21600, 86400, 3 * 86400, 5 * 86400]
    with Ledger.open(path, create=True) as ledger:
        ingest_files(ledger, [file], SPEC.slos[:1], end)
        fast = ledger.window_sums("availability", "production", ["probe"], end, windows)
        raw = ledger.slo_rows("availability", "production", ["probe"], end - 10 * 86400, end)
        since = end - 5 * 86400 - 1234  # not aligned to any step
        series = {
            step: ledger.series("availability", "production", ["probe"], since, end, step)
            for step in (60, 900, 3600, 3 * 3600)
        }
    for key, rows_ in raw.items():
        pure = budget.window_counts(rows_, end, windows)
        assert fast.get(key, {w: budget.Counts() for w in windows}) == pure
    for step, by_endpoint in series.items():
        for key, rows_ in raw.items():
            inside = [r for r in rows_ if since <= r[0] < end]
            assert by_endpoint.get(key, []) == timeline.regroup(inside, step), (step, key)


def test_timeslices_budgeting_counts_good_minutes(write_results, ledger_path: Path) -> None:
    spec = specs.from_str(
        "slos:\n - {name: minutes, sli: availability, objective: 0.9, window: 1d, "
        "budgeting: Timeslices, timeslice_window: 1m, timeslice_target: 0.95, min_events: 1}\n",
        "t.yaml",
    )
    records: list[dict] = []
    for minute in range(20):  # 20 minutes with traffic, 3 of them bad (10% errors)
        bad = 2 if minute in (3, 9, 15) else 0
        records += synth.simple_run(minute, NOW - 3600 + minute * 60 + 5, good=20 - bad, bad=bad)
    with Ledger.open(ledger_path, create=True) as ledger:
        ingest_files(ledger, [write_results(records)], spec.slos, NOW)
        (overall, _endpoint) = ledger_inputs(ledger, spec, "production", NOW)
    period = overall.windows[86400]
    assert period == budget.Counts(17.0, 20.0)  # minutes, not requests
    assert budget.burn_rate(period, spec.slos[0].budget_ratio) == pytest.approx(1.5)
    # the charts count slices per step: whole slices, and they still add up
    assert overall.step % 60 == 0 and len(overall.series) <= timeline.MAX_POINTS
    assert sum(t for _, _, t in overall.series) == 20.0


@pytest.mark.integration
def test_concurrent_ingests_both_count(write_results, ledger_path: Path) -> None:
    """Two `slo ingest` processes at once: BEGIN IMMEDIATE queues one behind the other."""
    import subprocess
    import sys

    files = [
        write_results(synth.simple_run(n, NOW - 600 + n, good=500, bad=5), f"r{n}.jsonl")
        for n in range(3)
    ]
    command = [sys.executable, "-m", "slo", "ingest", "--ledger", str(ledger_path)]
    processes = [
        subprocess.Popen([*command, str(f)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for f in files
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], errors
    assert _period_counts(ledger_path)[("availability", "")] == budget.Counts(1500.0, 1515.0)


def test_a_schema_1_ledger_is_upgraded_with_its_probes_last_outcomes(tmp_path: Path) -> None:
    """Schema 2 adds the outcome history; a schema-1 ledger gets each probe's newest
    outcome as its history, so its report shows the same probes as before."""
    import sqlite3

    from slo.store import APPLICATION_ID, MIGRATIONS

    path = tmp_path / "v1.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(
        "INSERT INTO probe_last VALUES ('production', 'probes/test_a.py::test_b', ?, 'r', "
        "'t', 'contract', '/scenes', 'GET', 'failed', '1 x 503', 0.1)",
        (NOW - 600,),
    )
    conn.execute(
        "INSERT INTO probe_outcomes VALUES ('production', 'probes/test_a.py::test_b', ?, "
        "'contract', '/scenes', 'GET', 0, 1, 0, 0, 0.1)",
        (NOW - 3600,),
    )
    conn.close()
    with Ledger.open(path, create=False) as ledger:
        (row,) = ledger.probe_rows("production", NOW - 86400, NOW)
        version = ledger.conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION == 2
    assert (row.probe, row.last_outcome, row.last_ts, row.reason) == (
        "probes/test_a.py::test_b", "failed", NOW - 600, "1 x 503"
    )  # fmt: skip
    assert row.failed == 1  # whole hours still come from the hourly tallies


def test_flushing_a_big_ingest_in_parts_counts_the_same(
    write_results, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counts and outcomes are written every FLUSH_ROWS keys to bound memory; the
    upserts make several flushes of one file add up to one."""
    from slo import store

    records = list(
        synth.probe_history(start=NOW - 7200, runs=20, samples_per_run=30, outcomes_per_run=7)
    )
    path = write_results(records)
    whole, parts = tmp_path / "whole.sqlite", tmp_path / "parts.sqlite"
    _ingest(whole, path)
    monkeypatch.setattr(store, "FLUSH_ROWS", 3)
    _ingest(parts, path)
    assert _period_counts(parts) == _period_counts(whole)
    with Ledger.open(whole, create=False) as a, Ledger.open(parts, create=False) as b:
        assert b.probe_rows("production", NOW - 5000, NOW - 1000) == a.probe_rows(
            "production", NOW - 5000, NOW - 1000
        )
        assert len(a.probe_rows("production", NOW - 5000, NOW - 1000)) == 7
