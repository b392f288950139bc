"""Prometheus-style durations (``5m``, ``1h30m``, ``28d``) as whole seconds.

Windows are kept as integer seconds everywhere so that window arithmetic (factors,
bucket alignment, PromQL range selectors) is exact.
"""

from __future__ import annotations

import re

UNITS: dict[str, int] = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """Return the number of seconds in ``text``; raise ``ValueError`` when it is not one.

    Accepts the units w, d, h, m, s in that order (as PromQL does), e.g. ``1h30m``.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"a duration like 5m, 1h or 28d, got {text!r}")
    seconds = sum(int(n) * u for n, u in zip(match.groups(), UNITS.values(), strict=True) if n)
    if seconds <= 0:
        raise ValueError(f"a positive duration, got {text!r}")
    return seconds


def format_duration(seconds: int) -> str:
    """Render seconds in the shortest exact form (``2419200`` -> ``28d``, ``5400`` -> ``1h30m``).

    Weeks are not used: SLO periods are conventionally spoken of in days (28d, not 4w).
    """
    if seconds <= 0:
        raise ValueError(f"a positive number of seconds, got {seconds}")
    parts = []
    rest = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)
