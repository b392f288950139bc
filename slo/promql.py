"""PromQL label matchers for an SLO's counters, shared by the rules and the reader. Pure."""

from __future__ import annotations

from slo.model import Slo


def escape(value: str) -> str:
    """Escape a label value for a double-quoted PromQL string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def selector(slo: Slo, environment: str | None = None) -> str:
    """``slo="availability",source="probe"`` (+ environment) for ``slo_*events_total``.

    With an environment, sources that may not count there (load in production) are
    dropped; without one, the SLO's own environment scope is used.
    """
    parts = [f'slo="{escape(slo.name)}"']
    sources = slo.sources
    if environment is not None:
        parts.append(f'environment="{escape(environment)}"')
        sources = tuple(s for s in sources if slo.counts_source(environment, s))
    elif slo.environments:
        parts.append(f'environment=~"{"|".join(escape(e) for e in slo.environments)}"')
    if len(sources) == 1:
        parts.append(f'source="{sources[0]}"')
    else:
        parts.append(f'source=~"{"|".join(sources) or "none"}"')
    return ",".join(parts)
