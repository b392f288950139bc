"""The health API's consistency rules (status, checks, codes, readiness, liveness)."""

from __future__ import annotations

from typing import Any

import pytest

from probes import healthdoc


def doc(status: str, **checks: str) -> dict[str, Any]:
    return {
        "status": status,
        "checks": {n: {"status": s, "message": ""} for n, s in checks.items()},
    }


CRITICAL = ("database",)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (doc("healthy", database="pass", memory="pass"), None),
        (doc("degraded", database="pass", memory="fail"), None),
        (doc("unhealthy", database="fail", memory="pass"), None),
        (doc("unhealthy", database="pass", memory="fail"), None),  # stricter than the profile
        (doc("healthy", database="fail"), "status healthy while checks fail: database"),
        (doc("healthy", memory="fail"), "status healthy while checks fail: memory"),
        (doc("degraded", database="fail"), "critical check database fails but status is degraded"),
        (doc("degraded", database="pass"), "status degraded while every check passes"),
        (doc("unhealthy"), "status unhealthy while every check passes"),
        (doc("healthy", database="warn"), "status healthy while checks fail: database"),
    ],
)
def test_consistency(body: dict[str, Any], problem: str | None) -> None:
    found = healthdoc.consistency_problem(body, CRITICAL)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("status", "code", "ok"),
    [("healthy", 200, True), ("degraded", 200, True), ("unhealthy", 503, True),
     ("unhealthy", 200, False), ("healthy", 503, False), ("unhealthy", 500, False)],
)  # fmt: skip
def test_health_code(status: str, code: int, ok: bool) -> None:
    assert (healthdoc.health_code_problem(status, code) is None) is ok


def test_readiness() -> None:
    assert healthdoc.readiness_problem(200, []) is None
    assert healthdoc.readiness_problem(503, ["database"]) is None
    assert "expected 503" in (healthdoc.readiness_problem(200, ["database"]) or "")
    assert "expected 200" in (healthdoc.readiness_problem(503, []) or "")
    assert healthdoc.readiness_problem(None, []) is not None


def test_liveness() -> None:
    assert healthdoc.liveness_problem(200, ["database"]) is None
    assert "must not depend" in (healthdoc.liveness_problem(503, ["database"]) or "")
    assert healthdoc.liveness_problem(503, []) == "live answered 503, expected 200"


def test_status_severity() -> None:
    assert [healthdoc.status_severity(s) for s in healthdoc.STATUSES] == [
        None, "warning", "critical"
    ]  # fmt: skip
