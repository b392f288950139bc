"""Locust's web UI, extended: a "SpaceTime exact" tab and the `/spacetime` route.

Both show the exact (HdrHistogram) figures per endpoint so far and every
threshold's mark, from the process holding the merged histograms (the master,
or the single local process). The figures are built by `summary.live_document`
(pure); this module only wires them into Flask. The routes honour
`--web-login` like Locust's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify, request

from loadtests.latency import release
from loadtests.state import ProcessState
from loadtests.summary import live_document, live_rows
from loadtests.thresholds import percentile_label

TAB = "spacetime"
ROUTE = "/spacetime"


def view(st: ProcessState | None) -> dict[str, Any]:
    if st is None:
        return {"verdict": "not started", "passed": None, "endpoints": [], "checks": []}
    tallies = st.book.live()
    counts = st.book.open_counts
    model = st.settings.open_model is not None
    try:
        return live_document(
            tallies,
            st.settings.policy,
            intended=counts.intended if model else 0,
            dropped=counts.dropped if model else 0,
        )
    finally:
        for _, tally in tallies:
            release(tally.hdr)
            release(tally.hdr_uncorrected)


def install(web_ui: Any, current: Callable[[], ProcessState | None]) -> None:
    """Add the route and the tab to Locust's web UI."""

    @web_ui.app.route(ROUTE)
    @web_ui.auth_required_if_enabled
    def spacetime() -> Response:
        return jsonify(view(current()))

    st = current()
    label = percentile_label(st.settings.policy.percentile) if st else "p95"
    web_ui.template_args["extended_tabs"] = [{"title": "SpaceTime exact", "key": TAB}]
    web_ui.template_args["extended_tables"] = [
        {
            "key": TAB,
            "structure": [
                {"key": "name", "title": "Endpoint"},
                {"key": "requests", "title": "Requests"},
                {"key": "rate_limited", "title": "429"},
                {"key": "errors", "title": "Errors"},
                {"key": "p50_ms", "title": "p50"},
                {"key": "percentile_ms", "title": label},
                {"key": "p99_ms", "title": "p99"},
                {"key": "max_ms", "title": "Max"},
                {"key": "verdict", "title": "Threshold"},
            ],
        }
    ]

    @web_ui.app.after_request
    def add_tab_rows(response: Response) -> Response:
        if request.path != "/stats/requests" or response.json is None:
            return response
        rows = live_rows(view(current()))
        extended = [{"key": TAB, "data": rows}]
        response.set_data(json.dumps({**response.json, "extended_stats": extended}))
        return response
