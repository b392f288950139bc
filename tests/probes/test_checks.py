"""Pure checks: each passes on a conforming exchange and fails, with evidence, on a bad one."""

from __future__ import annotations

import pytest
from support import mint_token

from probes import checks
from probes.checks import ProbeFailure
from probes.exchange import Exchange

TOKEN = mint_token("x")


def ex(status: int | None, body: bytes = b"", **headers: str) -> Exchange:
    return Exchange(
        method="GET",
        url="http://127.0.0.1:1/x",
        endpoint="/x",
        request_headers={"Authorization": f"Bearer {TOKEN}"},
        request_body=None,
        status=status,
        headers={k.replace("_", "-").lower(): v for k, v in headers.items()},
        body=body,
        latency_ms=1.0 if status else None,
        error=None if status else "cannot connect: refused",
    )


ERROR = b'{"error": "unauthorized", "message": "bad token"}'


def test_status_and_challenge() -> None:
    good = ex(401, ERROR, www_authenticate='Bearer realm="x"', content_type="application/json")
    checks.status_is(good, 401, "w")
    checks.bearer_challenge(good, "w")
    checks.error_body(good, "w")
    with pytest.raises(ProbeFailure, match="expected 401, got 403"):
        checks.status_is(ex(403), 401, "w")
    with pytest.raises(ProbeFailure, match="no response"):
        checks.status_is(ex(None), 401, "w")
    with pytest.raises(ProbeFailure, match="challenge"):
        checks.bearer_challenge(ex(401), "w")


def test_error_body_needs_json_object() -> None:
    with pytest.raises(ProbeFailure, match="Content-Type"):
        checks.error_body(ex(401, b"Unauthorized", content_type="text/plain"), "w")
    with pytest.raises(ProbeFailure, match="error body"):
        checks.error_body(ex(401, b'{"error": 1}', content_type="application/json"), "w")


def test_protected_data_and_file_signatures() -> None:
    with pytest.raises(ProbeFailure, match="static_memory_usage"):
        checks.no_protected_data(ex(401, b'{"memory": {"static_memory_usage": 1}}'), "w")
    checks.no_protected_data(ex(401, ERROR), "w")
    with pytest.raises(ProbeFailure, match="passwd"):
        checks.no_file_signatures(ex(200, b"root:x:0:0:root:/root:/bin/bash"), "w")
    checks.no_file_signatures(ex(400, ERROR), "w")


def test_retry_after_whole_seconds() -> None:
    assert checks.retry_after_seconds(ex(429, retry_after="2"), "w") == 2
    with pytest.raises(ProbeFailure, match="without a Retry-After"):
        checks.retry_after_seconds(ex(429), "w")
    with pytest.raises(ProbeFailure, match="whole seconds"):
        checks.retry_after_seconds(ex(429, retry_after="1.5"), "w")


def test_limit_window_allows_refill_and_tolerance() -> None:
    window = checks.limit_window(20, 10, elapsed_s=0.5, tolerance_ratio=0.1)
    assert window.earliest == 18 and window.latest == 20 + 5 + 2
    assert checks.max_honest_retry_after(20, 10) == 3


def test_limit_slack_is_a_share_of_burst_and_at_least_two() -> None:
    assert checks.limit_slack(50, 0.1) == 5
    assert checks.limit_slack(51, 0.1) == 6  # rounded up
    assert checks.limit_slack(10, 0.1) == 2
    assert checks.limit_slack(50, 0.0) == 2
    window = checks.limit_window(50, 50, elapsed_s=0.0, tolerance_ratio=0.1)
    assert (window.earliest, window.latest) == (50 - 5, 50 + 5)


def test_curl_redacts_the_token() -> None:
    command = ex(401).curl(secrets=("c2ln",))
    assert "eyJ" not in command and "<redacted>" in command
    assert command.startswith("curl -sS -i -X GET")
