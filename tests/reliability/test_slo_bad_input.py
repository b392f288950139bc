"""Bad SLO specs and results files through `python -m slo`: one line naming the file, exit 2.

docs/slo.md promises: "Invalid input is always one line on stderr,
`slo: error: <file>: <field>: <what was expected>`, never a traceback." This
holds the CLI to it with hypothesis: mutated specs (`slo rules --spec`) and
mutated results files (`slo ingest`), through `slo.cli.main` in-process for
speed, and once each as a real subprocess. An "(internal)" line counts as a
failure: it is the CLI catching a bug, not naming what is wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from reliability.fuzz import FUZZ, mutated
from support import ROOT

cli = pytest.importorskip("slo.cli", reason="the slo package is not importable")

SPEC = yaml.safe_load((ROOT / "slo" / "specs" / "spacetime.yaml").read_text())
SPEC_NAMES = ["slos", "name", "sli", "objective", "threshold_ms", "window", "policy",
              "alerts", "gate", "defaults", "per_endpoint", "min_events", "sources",
              "severity", "budget_fraction", "long_window", "short_window"]  # fmt: skip

RUN_ID = "0" * 31 + "1"
COMMON = {"schema": "spacetime-probes/results/1", "run_id": RUN_ID, "source": "probe",
          "target": "http://127.0.0.1:8080", "environment": "staging"}  # fmt: skip
RECORDS: list[dict[str, Any]] = [
    {**COMMON, "kind": "run", "seq": 0, "phase": "start", "ts": 1.8e9, "profile": "x",
     "commit": None, "exit_status": None, "counts": None},
    {**COMMON, "kind": "sample", "seq": 1, "ts": 1.8e9 + 1, "probe": "probes/test_x.py::t",
     "family": "contract", "endpoint": "/scenes", "method": "GET", "status": 200,
     "latency_ms": 12.5, "error": None, "expected_status": True},
    {**COMMON, "kind": "outcome", "seq": 2, "ts": 1.8e9 + 2, "probe": "probes/test_x.py::t",
     "family": "contract", "endpoint": "/scenes", "method": "GET", "outcome": "passed",
     "duration_s": 0.1, "reason": None, "measured": None},
]  # fmt: skip
RECORD_NAMES = sorted({key for record in RECORDS for key in record})


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, stderr: str, path: Path) -> None:
    assert code in {0, 2}, (code, stderr)
    if code == 0:
        return
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("slo: error: "), lines[0]
    assert str(path) in lines[0], lines[0]
    assert "(internal)" not in lines[0], lines[0]


@settings(FUZZ, max_examples=80)
@given(mutated(SPEC, SPEC_NAMES))
def test_mutated_specs(spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, allow_unicode=True))
        code, _, stderr = run_cli("rules", "--spec", str(path))
    assert_one_line_error(code, stderr, path)


@settings(FUZZ, max_examples=80)
@given(st.text(max_size=300))
def test_spec_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, _, stderr = run_cli("rules", "--spec", str(path))
    assert_one_line_error(code, stderr, path)


@st.composite
def results_files(draw: st.DrawFn) -> bytes:
    """Valid records, some mutated, mixed with garbage and truncated lines."""
    lines = []
    for record in RECORDS:
        if draw(st.booleans()):
            record = draw(mutated(record, RECORD_NAMES))
        lines.append(json.dumps(record).encode())
    noise = st.sampled_from(
        [
            b"",
            b"garbage",
            b"{",
            b"[1, 2]",
            b"null",
            b"\xff\xfe",
            b'{"schema": "other/1"}',
            json.dumps(RECORDS[1])[:40].encode(),
        ]
    )
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(noise))
    return b"\n".join(lines) + draw(st.sampled_from([b"\n", b""]))  # fmt: skip


@settings(FUZZ, max_examples=50)  # each example is an SQLite ledger
@given(results_files())
def test_mutated_results_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "results.jsonl"
        path.write_bytes(content)
        code, _, stderr = run_cli("ingest", "--ledger", str(Path(directory) / "l.sqlite"),
                                  str(path))  # fmt: skip
    assert_one_line_error(code, stderr, path)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "name", "content"),
    [
        (["rules", "--spec"], "spec.yaml", "slos:\n  - name: x\n    objective: [99.9]\n"),
        (["ingest", "--ledger", "{dir}/l.sqlite"], "results.jsonl", '{"schema": 1}\n{'),
    ],
    ids=["spec", "results"],
)
def test_subprocess_one_line_exit_2(
    tmp_path: Path, command: list[str], name: str, content: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    argv = [part.format(dir=tmp_path) for part in command] + [str(path)]
    # cwd is the temporary directory: `-m slo` must not depend on where pip put it.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
           os.environ.get("PYTHONPATH")]))}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "slo", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert_one_line_error(done.returncode, done.stderr, path)
    assert "Traceback" not in done.stderr + done.stdout
