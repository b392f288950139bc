"""tests/conftest.py's HEAVY_MODULES says, for the xdist scheduler, what the modules' marks say.

The controller that deals out tests sees ids, not marks, so the list of modules whose
tests all run alone (`pytestmark = [..., pytest.mark.cpu_heavy]`) is written out
there. A module marked and not listed would have its heavy tests dealt one by one
(the machine handed over between each pair); a module listed and not marked would
run its tests on one worker for nothing. Read from the sources, no collection.
"""

from __future__ import annotations

import ast
from pathlib import Path

from support import ROOT

TESTS = ROOT / "tests"


def _listed() -> set[str]:
    tree = ast.parse((TESTS / "conftest.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "HEAVY_MODULES" for t in node.targets
        ):
            assert isinstance(node.value, ast.Call) and node.value.args, "frozenset({...})"
            return set(ast.literal_eval(node.value.args[0]))
    raise AssertionError("tests/conftest.py defines no HEAVY_MODULES")


def _marks_module_heavy(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return any(
                isinstance(n, ast.Attribute) and n.attr == "cpu_heavy" for n in ast.walk(node)
            )
    return False


def test_the_heavy_module_list_is_the_modules_marked_cpu_heavy() -> None:
    marked = {
        path.relative_to(ROOT).as_posix()
        for path in TESTS.rglob("test_*.py")
        if _marks_module_heavy(path)
    }
    assert marked, "no module marks all its tests cpu_heavy: the check reads nothing"
    assert _listed() == marked
