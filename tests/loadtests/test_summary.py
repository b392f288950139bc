"""End-of-run figures: the exact table, the open model's line and the summary document."""

from __future__ import annotations

import json

import pytest

from loadtests.latency import LatencyBook
from loadtests.summary import document, endpoint_summaries, exact_table, open_figures, open_line
from loadtests.thresholds import Policy
from loadtests.traffic import Outcome


def book_with_a_stall() -> LatencyBook:
    book = LatencyBook(200.0)
    for i in range(99):
        book.record("GET", "/scenes", i * 0.01, 2.0, Outcome.OK, corrected_ms=2.5)
    book.record("GET", "/scenes", 1.0, 3.0, Outcome.OK, corrected_ms=990.0)
    book.record("GET", "/scenes", 1.0, 3.0, Outcome.OK, corrected_ms=995.0)
    book.open_counts.intended, book.open_counts.sent, book.open_counts.late = 103, 101, 2
    book.open_counts.unsent = 2
    book.close_all()
    return book


def test_open_figures_contrast_corrected_and_uncorrected() -> None:
    figures = open_figures(book_with_a_stall())
    assert figures["p99_corrected_ms"] == pytest.approx(990.0, rel=1e-3)
    assert figures["p99_uncorrected_ms"] == pytest.approx(3.0, rel=1e-3)
    line = open_line(figures)
    assert line.startswith("open model: 103 due, 101 sent (2 late), 0 dropped, 2 still queued")
    assert "p99 corrected 990.2 ms, uncorrected 3.0 ms" in line


def test_exact_table_and_document() -> None:
    book = book_with_a_stall()
    (row,) = exact_table(book, 95)[1:]
    assert row.startswith("  GET /scenes: 101, 0, 0, 2.5, 2.5, 990.2, 995.3")
    summaries = endpoint_summaries(book, 95)
    body = document(
        book, summaries, Policy(), run_id="r", failure=None, exit_code=0, open_model=True
    )
    assert json.loads(json.dumps(body)) == body  # plain JSON
    assert body["requests"] == 101 and body["passed"] is True
    assert body["open_model"]["unsent"] == 2
    assert body["endpoints"][0]["within_sla"] == 99


def test_live_document_counts_open_buckets_and_marks_each_threshold() -> None:
    from loadtests.summary import live_document, live_rows

    book = LatencyBook(200.0)
    book.record("GET", "/scenes", 1.0, 12.0, Outcome.OK)
    book.close_due(now_s=30.0, lag_s=10.0)  # the first bucket is written and in the run
    book.record("GET", "/scenes", 31.0, 250.0, Outcome.OK)  # still open
    tallies = book.live()
    body = live_document(tallies, Policy())
    assert body["requests"] == 2 and body["verdict"] == "failed"
    (endpoint,) = body["endpoints"]
    assert endpoint["verdict"] == "\u2717 p95 GET /scenes 250.1 ms > 200 ms"
    rows = live_rows(body)
    assert rows[0] == {"name": "SLA verdict (p95 <= 200 ms)", "verdict": "failed"}
    assert rows[1]["p50_ms"] == "12.0" and rows[1]["name"] == "GET /scenes"
    assert [r["verdict"] for r in rows[2:]] == [
        "\u2713 error ratio 0.000 <= 0.01",
        "\u2713 429 ratio 0.000 <= 0.05",
    ]
    assert book.total_requests() == 2  # reading it changed nothing
