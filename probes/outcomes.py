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

INCONCLUSIVE_PREFIX = "inconclusive: "


class Inconclusive(pytest.skip.Exception):  # type: ignore[name-defined]
    """The probe cannot decide about the target; the reason names the probe's limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(INCONCLUSIVE_PREFIX + reason)
        self.reason = reason


def is_inconclusive(reason: str | None) -> bool:
    """Whether a recorded skip reason is an inconclusive verdict rather than "not applicable"."""
    return bool(reason) and reason.startswith(INCONCLUSIVE_PREFIX)  # type: ignore[union-attr]
