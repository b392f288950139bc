"""The pure core stays pure: no sqlite3, no httpx, no file opening, no clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from support import CLOCK_AND_FILE_CALLS

import slo

PURE = (
    "model", "budget", "policy", "evaluate", "render", "html", "rules", "promql", "loadbudget",
    "records", "seqset", "durations", "exposition", "charts", "synth", "timeline", "runs",
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
    tree = ast.parse((ROOT / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert called not in CLOCK_AND_FILE_CALLS, (
                f"slo/{name}.py:{node.lineno} calls {called}()"
            )
