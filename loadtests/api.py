"""The SpaceTime load profiles: `locust -f loadtests/api.py [--st-* options]`.

Users mirror the real clients (users.py); one shape runs a stage table
(`--st-shape ramp|step|spike|soak`), a constant arrival rate
(`--st-open-rate`) or plain `-u/-r`; exact latencies, thresholds and the
results file come from plugin.py. See docs/loadtests.md.
"""

import sys
from pathlib import Path

# Locust imports this file by path; make its package importable from a bare checkout
# too. Index 1: Locust puts this file's directory at 0 and removes index 0 afterwards.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(1, _ROOT)

from loadtests import plugin  # noqa: E402, F401  (registers the --st-* options and hooks)
from loadtests.openmodel import ArrivalUser  # noqa: E402
from loadtests.shapes import SpaceTimeShape  # noqa: E402
from loadtests.users import (  # noqa: E402
    ContainerHealthcheckUser,
    HealthMonitorUser,
    OperatorUser,
    ScraperUser,
)

__all__ = [
    "ArrivalUser",
    "ContainerHealthcheckUser",
    "HealthMonitorUser",
    "OperatorUser",
    "ScraperUser",
    "SpaceTimeShape",
]
