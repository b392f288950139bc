"""Rules for a health API with liveness and readiness (seed 004's VTT shape); pure.

The overall status, the checks, the status codes of the health, liveness and
readiness endpoints must tell one story:

- `healthy` iff no check fails; a failing critical check makes it `unhealthy`;
  `unhealthy` needs some failing check to say why; other failures: `degraded`.
- `/health` answers 200 while healthy or degraded, 503 while unhealthy
  (a monitor that reads only the code must see the outage).
- readiness (Kubernetes: take traffic?) answers 503 while a critical check
  fails and 200 otherwise; a degraded service still takes traffic.
- liveness (Kubernetes: restart the container?) answers 200 whenever the
  process can answer at all: a database outage must not restart every pod.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from probes.profile import Severity

STATUSES = ("healthy", "degraded", "unhealthy")


def failing_checks(body: Mapping[str, Any]) -> list[str]:
    checks = body.get("checks") or {}
    return sorted(
        name
        for name, check in checks.items()
        if not (isinstance(check, Mapping) and check.get("status") == "pass")
    )


def consistency_problem(body: Mapping[str, Any], critical: Collection[str]) -> str | None:
    """Why the overall status contradicts the checks, or None."""
    status = body.get("status")
    failing = failing_checks(body)
    critical_failing = [name for name in failing if name in critical]
    if status == "healthy" and failing:
        return f"status healthy while checks fail: {', '.join(failing)}"
    if critical_failing and status != "unhealthy":
        return (
            f"critical check {', '.join(critical_failing)} fails "
            f"but status is {status}, expected unhealthy"
        )
    if status in {"degraded", "unhealthy"} and not failing:
        return f"status {status} while every check passes"
    return None


def health_code_problem(status: object, code: int | None) -> str | None:
    """The /health status code must match the overall status."""
    expected = 503 if status == "unhealthy" else 200
    if code != expected:
        return f"status {status} answered {code}, expected {expected}"
    return None


def readiness_problem(code: int | None, critical_failing: Collection[str]) -> str | None:
    if critical_failing and code is not None and 200 <= code < 300:
        names = ", ".join(sorted(critical_failing))
        return f"ready answered {code} while critical check {names} fails, expected 503"
    if not critical_failing and code != 200:
        return f"ready answered {code} while no critical check fails, expected 200"
    return None


def liveness_problem(code: int | None, failing: Collection[str]) -> str | None:
    if code == 200:
        return None
    if failing:
        names = ", ".join(sorted(failing))
        return (
            f"live answered {code} while check {names} fails: liveness must not depend on "
            "dependencies (Kubernetes would restart every pod for an outage elsewhere)"
        )
    return f"live answered {code}, expected 200"


def status_severity(status: object) -> Severity | None:
    """`degraded` is a warning, `unhealthy` critical (seed 004's alert levels)."""
    if status == "unhealthy":
        return "critical"
    return "warning" if status == "degraded" else None
