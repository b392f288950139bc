"""The ingest fold alone, without a ledger: what each record adds, by name."""

from __future__ import annotations

import json
from collections.abc import Callable

from slo import synth
from slo.fold import ALL, EventKey, Events, Fold, OutcomeKey, StepKey, hourly
from slo.model import SliKind, Slo
from slo.records import Record, parse_record

AVAILABILITY = Slo("availability", SliKind.AVAILABILITY, 0.999, 86400)
LATENCY = Slo("latency", SliKind.LATENCY, 0.95, 86400, threshold_ms=200.0)
SLOS = (AVAILABILITY, LATENCY)
T = 1_767_225_600.0  # an hour's first second


def typed(builder: synth.RunBuilder) -> list[Record]:
    return [parse_record(json.dumps(r)) for r in builder.records]


def every_seq_new() -> Callable[[str, str, int], bool]:
    seen: set[tuple[str, str, int]] = set()

    def is_new(run_id: str, scope: str, seq: int) -> bool:
        key = (run_id, scope, seq)
        fresh = key not in seen
        seen.add(key)
        return fresh

    return is_new


def fold(records: list[Record], is_new=None) -> Fold:
    tally = Fold()
    is_new = is_new or every_seq_new()
    for record in records:
        tally.add(record, SLOS, is_new)
    return tally


def test_samples_of_one_second_and_endpoint_are_one_row_per_slo() -> None:
    run = synth.RunBuilder("a" * 32).start(T, commit="c0ffee")
    run.sample(T + 1.2, "GET", "/scene", 200, 20.0).sample(T + 1.7, "GET", "/scene", 503, 900.0)
    run.sample(T + 1.9, "GET", "/scene", None, None).end(T + 3, exit_status=1)
    tally = fold(typed(run))
    key = EventKey("availability", "production", "probe", int(T) + 1, "GET", "/scene")
    assert tally.events[key] == Events(good=1, total=3)
    # latency counts answered requests only: the timeout is not in it
    assert tally.events[key._replace(slo="latency")] == Events(good=1, total=2)
    assert hourly(tally.events)[key._replace(bucket=int(T))] == Events(good=1, total=3)
    facts = tally.runs["a" * 32]
    assert (facts.started, facts.ended, facts.exit_status, facts.commit) == (T, T + 3, 1, "c0ffee")
    assert tally.spans["a" * 32] == (T, T + 3)


def test_a_record_seen_before_adds_nothing_and_is_not_fresh() -> None:
    records = typed(synth.RunBuilder("b" * 32).sample(T, "GET", "/scene", 200, 5.0))
    is_new = every_seq_new()
    tally = Fold()
    assert tally.add(records[0], SLOS, is_new).fresh
    assert not tally.add(records[0], SLOS, is_new).fresh
    key = EventKey("availability", "production", "probe", int(T), "GET", "/scene")
    assert tally.events[key] == Events(1, 1)
    # an SLO added later back-fills from the same record: its scope is new
    added = tally.add(records[0], (Slo("fresh", SliKind.AVAILABILITY, 0.9, 86400),), is_new)
    assert added.fresh and not is_new("b" * 32, ALL, records[0].header.seq)


def test_outcomes_are_tallied_per_hour_and_the_latest_is_kept() -> None:
    run = synth.RunBuilder("c" * 32)
    run.outcome(T + 10, "p", "passed", duration_s=1.0)
    run.outcome(T + 20, "p", "failed", duration_s=2.0, reason="boom")
    run.outcome(T + 5, "p", "skipped", duration_s=0.5)  # older, though later in the file
    run.outcome(T + 3600, "p", "error", duration_s=0.25)
    tally = fold(typed(run))
    first = tally.outcomes[OutcomeKey("production", "p", int(T))]
    assert (first.passed, first.failed, first.skipped, first.error) == (1, 1, 1, 0)
    assert first.duration_s == 3.5
    assert tally.outcomes[OutcomeKey("production", "p", int(T) + 3600)].error == 1
    assert tally.last[("production", "p")].outcome == "error"
    assert [o.outcome for o in tally.take_history()] == ["passed", "failed", "skipped", "error"]
    assert tally.history == []


def test_aggregates_add_their_stage_and_a_broken_histogram_is_a_problem() -> None:
    run = synth.RunBuilder("d" * 32, source="load")
    stage = {"index": 0, "users": 10, "rate_per_s": None}
    run.aggregate(T, "GET", "/scenes", total=10, answered=10, server_errors=1, within_sla=9,
                  stage=stage)  # fmt: skip
    run.aggregate(T + 10, "GET", "/scenes", total=5, answered=5, server_errors=0, within_sla=5,
                  stage=stage, bucket_s=4.0)  # fmt: skip
    tally = fold(typed(run))
    step = tally.steps[StepKey("d" * 32, "production", "availability", 0)]
    assert (step.users, step.good, step.total) == (10, 14, 15)
    assert (step.first_ts, step.last_ts) == (T, T + 14)
    # a latency threshold other than the record's sla_ms needs the histogram: none here
    broken = synth.RunBuilder("e" * 32, source="load")
    broken.aggregate(T, "GET", "/x", total=1, answered=1, server_errors=0, within_sla=1)
    strict = Slo("fast", SliKind.LATENCY, 0.95, 86400, threshold_ms=150.0)
    added = Fold().add(typed(broken)[0], (AVAILABILITY, strict), every_seq_new())
    assert added.fresh
    assert added.problems == ("seq 0: hdr: needed for a 150 ms threshold (sla_ms is 200)",)
