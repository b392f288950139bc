"""Exact, mergeable latency tallies: the worker -> master path and bucket closing."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests.latency import LatencyBook, merge_encoded, new_histogram, percentile_ms, to_us
from loadtests.traffic import Outcome


def test_counts_outcomes_and_within_sla_exactly_at_the_threshold() -> None:
    book = LatencyBook(sla_ms=200.0, bucket_s=10.0)
    book.record("GET", "/scenes", 1.0, 200.0, Outcome.OK)  # exactly at the SLA: within
    book.record("GET", "/scenes", 2.0, 200.001, Outcome.OK)  # a microsecond over: not
    book.record("GET", "/scenes", 3.0, 5.0, Outcome.RATE_LIMITED)
    book.record("GET", "/scenes", 4.0, 5.0, Outcome.SERVER_ERROR)
    book.record("GET", "/scenes", 5.0, 5.0, Outcome.UNEXPECTED)
    book.record("GET", "/scenes", 6.0, None, Outcome.NO_RESPONSE)
    (bucket,) = book.close_all()
    t = bucket.tally
    assert (t.total, t.answered, t.rate_limited, t.server_errors, t.failed) == (6, 5, 1, 1, 3)
    assert t.within_sla == 4
    assert merge_encoded([bucket.hdr]).get_total_count() == 5
    assert t.hdr is None  # released once encoded: only the text is kept


def test_buckets_close_after_the_lag_and_fold_into_the_run() -> None:
    book = LatencyBook(200.0, 10.0)
    book.record("GET", "/a", 100.0, 1.0, Outcome.OK)
    book.record("GET", "/a", 111.0, 1.0, Outcome.OK)
    assert book.close_due(now_s=115.0, lag_s=10.0) == []  # bucket [100,110) + 10 s lag
    (first,) = book.close_due(now_s=120.0, lag_s=10.0)
    assert first.start_s == 100.0 and first.tally.total == 1
    # a straggler for the written bucket is counted in the next one, not lost
    book.record("GET", "/a", 105.0, 1.0, Outcome.OK)
    assert book.late_folded == 1
    (second,) = book.close_all()
    assert second.start_s == 110.0 and second.tally.total == 2
    assert dict(book.endpoints())[("GET", "/a")].total == 3


def test_open_model_keeps_corrected_and_uncorrected_apart() -> None:
    book = LatencyBook(200.0)
    book.record("GET", "/a", 0.0, 5.0, Outcome.OK, corrected_ms=900.0)
    (bucket,) = book.close_all()
    assert bucket.tally.within_sla == 0  # judged on the corrected latency
    assert percentile_ms(merge_encoded([bucket.hdr]), 99) == pytest.approx(900.0, rel=1e-3)
    run = dict(book.endpoints())[("GET", "/a")]
    assert percentile_ms(run.hdr, 99) == pytest.approx(900.0, rel=1e-3)
    assert percentile_ms(run.hdr_uncorrected, 99) == pytest.approx(5.0, rel=1e-3)


def test_record_sent_measures_an_open_model_request_from_its_due_time() -> None:
    book = LatencyBook(200.0, 10.0)
    # due at 9.9 s, left 0.5 s late (10.4 s), answered in 3 ms: filed under its due bucket
    book.record_sent("GET", "/a", 10.4, 3.0, Outcome.OK, intended_s=9.9)
    book.record_sent("GET", "/a", 10.4, 3.0, Outcome.OK)  # closed model: as sent
    book.record_sent("GET", "/a", 9.0, 7.0, Outcome.NO_RESPONSE, intended_s=8.0)
    first, second = book.close_all()
    assert (first.start_s, first.tally.total, first.tally.failed) == (0.0, 2, 1)
    assert first.tally.within_sla == 0  # 503 ms from its due time
    assert percentile_ms(merge_encoded([first.hdr]), 100) == pytest.approx(503.0, rel=1e-3)
    assert (second.start_s, second.tally.within_sla) == (10.0, 1)
    run = dict(book.endpoints())[("GET", "/a")]
    assert percentile_ms(run.hdr_uncorrected, 100) == pytest.approx(3.0, rel=1e-3)


def test_values_are_clamped_into_the_histogram_range() -> None:
    assert to_us(0.0) == 1
    assert to_us(10**9) == 60_000_000
    assert to_us(212.4004) == 212_400


def test_worker_payload_must_use_the_masters_bucket_width() -> None:
    worker = LatencyBook(200.0, bucket_s=5.0)
    with pytest.raises(ValueError, match="bucket"):
        LatencyBook(200.0, bucket_s=10.0).merge(worker.drain())


samples = st.lists(
    st.tuples(
        st.integers(0, 3),  # which worker
        st.floats(0.0, 59.9),  # start, s
        st.floats(0.001, 5000.0),  # latency, ms
        st.sampled_from([Outcome.OK, Outcome.RATE_LIMITED, Outcome.SERVER_ERROR]),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=40, deadline=None)
@given(samples=samples, drains=st.integers(1, 3))
def test_merging_workers_equals_recording_in_one_process(samples: list, drains: int) -> None:
    """Split across 4 workers, drained at random moments, merged: same counts, same histogram."""
    single = LatencyBook(200.0, 10.0)
    master = LatencyBook(200.0, 10.0)
    workers = [LatencyBook(200.0, 10.0) for _ in range(4)]
    rng = random.Random(len(samples))
    for worker, start, latency, outcome in samples:
        single.record("GET", "/x", start, latency, outcome)
        workers[worker].record("GET", "/x", start, latency, outcome)
        if rng.random() < drains / 50:
            master.merge(workers[worker].drain())
    for worker in workers:
        master.merge(worker.drain())
    ours = {b.start_s: b for b in master.close_all()}
    theirs = {b.start_s: b for b in single.close_all()}
    assert ours.keys() == theirs.keys()
    for start, bucket in theirs.items():
        mine, tally = ours[start].tally, bucket.tally
        assert (mine.total, mine.answered, mine.rate_limited, mine.server_errors) == (
            tally.total,
            tally.answered,
            tally.rate_limited,
            tally.server_errors,
        )
        assert mine.within_sla == tally.within_sla
        merged, expected = merge_encoded([ours[start].hdr]), merge_encoded([bucket.hdr])
        assert merged.get_total_count() == expected.get_total_count()
        for p in (50, 95, 99, 100):
            assert merged.get_value_at_percentile(p) == expected.get_value_at_percentile(p)


def test_merge_encoded_reads_back_what_the_results_file_holds() -> None:
    a, b = new_histogram(), new_histogram()
    a.record_value(1000)
    b.record_value(3000, 3)
    merged = merge_encoded([a.encode().decode("ascii"), b.encode()])
    assert merged.get_total_count() == 4
    assert percentile_ms(merged, 50) == pytest.approx(3.0, rel=1e-3)
    assert percentile_ms(new_histogram(), 50) is None


def test_the_direct_fold_is_in_use_and_matches_record_value() -> None:
    """The fast path is only taken because it equals the library's own recording."""
    from loadtests import latency

    assert latency._FOLD is latency._fold_direct
    assert latency._direct_agrees()
    values = {v: 1 + v % 3 for v in range(1, 200_000, 37)}
    reference, direct = new_histogram(), new_histogram()
    latency._fold_public(reference, values)
    latency._fold_direct(direct, values)
    assert direct.encode() == reference.encode()


def test_a_stage_change_cuts_the_bucket_so_none_spans_two_stages() -> None:
    """3 s stages, 10 s buckets asked for: before, stages 2-4 vanished into mixed buckets."""
    book = LatencyBook(200.0, 10.0)
    book.record("GET", "/a", 100.5, 1.0, Outcome.OK)  # stage 1 (from 100)
    book.new_segment(103.0)
    book.record("GET", "/a", 103.5, 1.0, Outcome.OK)  # stage 2
    book.record("GET", "/a", 102.9, 1.0, Outcome.OK)  # started in stage 1, answered later
    book.new_segment(106.0)
    book.record("GET", "/a", 106.1, 1.0, Outcome.OK)  # stage 3
    book.record("GET", "/a", 117.0, 1.0, Outcome.OK)  # stage 3, its second 10 s bucket
    spans = [(b.start_s, b.bucket_s, b.tally.total) for b in book.close_all(end_s=119.0)]
    assert spans == [(100.0, 3.0, 2), (103.0, 3.0, 1), (106.0, 10.0, 1), (116.0, 3.0, 1)]


def test_workers_number_buckets_as_the_master_does_across_stage_changes() -> None:
    master, worker = LatencyBook(200.0, 2.0), LatencyBook(200.0, 2.0)
    segment = master.new_segment(7.3)
    worker.new_segment(segment.origin_s, segment.first_index)  # the master's message
    worker.record("GET", "/a", 7.5, 1.0, Outcome.OK)
    worker.record("GET", "/a", 6.9, 1.0, Outcome.OK)
    master.merge(worker.drain())
    spans = [(b.start_s, round(b.bucket_s, 6), b.tally.total) for b in master.close_all()]
    assert spans == [(6.0, 1.3, 1), (7.3, 2.0, 1)]


def test_closing_follows_the_grid_of_each_segment() -> None:
    book = LatencyBook(200.0, 10.0)
    book.new_segment(105.0)
    book.record("GET", "/a", 106.0, 1.0, Outcome.OK)
    assert book.close_due(now_s=124.9, lag_s=10.0) == []  # bucket [105, 115) + 10 s lag
    (bucket,) = book.close_due(now_s=125.0, lag_s=10.0)
    assert (bucket.start_s, bucket.bucket_s) == (105.0, 10.0)
