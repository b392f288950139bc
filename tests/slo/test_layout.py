"""The pure core stays pure: no sqlite3, no httpx, no file opening, no clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import clock_and_file_calls

import slo

PURE = (
    "model", "budget", "policy", "evaluate", "render", "html", "rules", "promql", "loadbudget",
    "records", "seqset", "durations", "exposition", "charts", "synth", "timeline", "runs", "fold",
)  # fmt: skip
ROOT = Path(slo.__file__).parent


def test_pure_modules_import_no_io_library() -> None:
    code = (
        "import sys\n"
        + "".join(f"import slo.{name}\n" for name in PURE)
        + "print(sorted(m for m in ('sqlite3', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_not_open_files_or_read_the_clock(name: str) -> None:
    assert clock_and_file_calls(ROOT / f"{name}.py") == [], f"slo/{name}.py"
