"""The reliability tables: rows saved by the tests, rendered at the end of the session.

Rows live as JSON under reports/self-test/<table>/ so xdist workers can
write them and the controller (tests/conftest.py) prints them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ORDER = ("conforming",)


def _short(text: str, width: int = 110) -> str:
    text = text.split(" | reproduce:", 1)[0].replace("|", "/")
    return text if len(text) <= width else text[: width - 3] + "..."


def render_target_faults(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| case | the target | exit | failing/probes | a reason (shortest) | slowest probe s "
        "| wall s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["case"] not in ORDER, r["case"])):
        lines.append(
            f"| {row['case']} | {row['target']} | {row['exit_status']} | "
            f"{row['failing']}/{row['probes']} | {_short(row['reason']) or '-'} | "
            f"{row['slowest_probe_s']} | {row['wall_s']} | {row['peak_rss_mib']} |"
        )
    return "\n".join(lines)


def render_figures(rows: Sequence[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {row['name']}: {row['figures']}" for row in sorted(rows, key=lambda r: r["name"])
    )


TABLES = {
    "target-faults": ("target-fault matrix (case -> outcome)", render_target_faults),
    "reliability": ("reliability figures (TLS, nginx, load)", render_figures),
}


def fresh_rows(directory: Path, since: float) -> list[dict[str, Any]]:
    if not directory.exists():
        return []
    return [
        json.loads(path.read_text())
        for path in sorted(directory.glob("*.json"))
        if path.stat().st_mtime >= since
    ]


def write_tables(reports: Path, since: float) -> list[tuple[str, str]]:
    """(title, table) per table with rows from this session, each kept as <table>.md."""
    shown = []
    for name, (title, render) in TABLES.items():
        rows = fresh_rows(reports / name, since)
        if rows:
            table = render(rows)
            (reports / f"{name}.md").write_text(table + "\n")
            shown.append((title, table))
    return shown
