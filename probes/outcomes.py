"""Verdicts that are not the target's: inconclusive probes and an unavailable target.

A probe reports three things about the target: it met the contract (pass),
it breached it (`ProbeFailure`), or the probe could not tell (`Inconclusive`).
Inconclusive is what the probe says when its own limits decide the figure
(its schedule, its rate budget, its connections, its CPU): it is reported
as a pytest skip whose reason starts with ``inconclusive:``, carried into the
results record (``verdict: inconclusive``) and the JUnit properties, and
never fails the run. The SLO module, which has the history, decides.
"""

from __future__ import annotations

import pytest

from probes.checks import ProbeFailure

INCONCLUSIVE_PREFIX = "inconclusive: "
# How an outage or a lockout is told, first in every probe it failed (probes/breaker.py).
UNREACHABLE = "target unreachable: "
LOCKED_OUT = "locked out: "
UNAVAILABLE_PREFIXES = (UNREACHABLE, LOCKED_OUT)


class Inconclusive(pytest.skip.Exception):  # type: ignore[name-defined]
    """The probe cannot decide about the target; the reason names the probe's limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(INCONCLUSIVE_PREFIX + reason)
        self.reason = reason


def is_inconclusive(reason: str | None) -> bool:
    """Whether a recorded skip reason is an inconclusive verdict rather than "not applicable"."""
    return bool(reason) and reason.startswith(INCONCLUSIVE_PREFIX)  # type: ignore[union-attr]


class TargetUnavailable(ProbeFailure):
    """The target is down or locks us out: every remaining probe fails fast with this reason.

    A failure, not inconclusive: an outage is what the SLO must count. It names
    the outage ("target unreachable: connection refused"), never a family's
    message, so it does not read like a security finding.
    """
