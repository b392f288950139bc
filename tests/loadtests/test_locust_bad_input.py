"""Bad input ends a run before it starts: one line, exit status 2, no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from loadrun import LocustRun
from support import free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad-yaml", "profile.yaml: line 2: expected"),
        ("bad-field", "profile.yaml: environment: Input should be 'local', 'staging' or"),
        ("unknown-builtin", "/no-such-profile: cannot read profile: No such file or directory"),
        ("vtt-profile", "profile vtt is of kind vtt: the load profiles drive the SpaceTime"),
        ("missing-token", "cannot read token file"),
        ("not-a-jwt", "expected one JWT (three dot-separated parts)"),
        ("unreachable", "is unreachable"),
        ("unknown-shape", "--st-shape must be one of"),
        ("unwritable-results", "cannot write results to"),
        (
            "bucket-over-stage",
            "--st-bucket-s 10 is longer than stage 1 of step (3 s as scaled): "
            "give --st-bucket-s <= 3, or leave it out to fit the stages",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    case: str, expected: str, tmp_path: Path, locust_run: Callable[..., LocustRun]
) -> None:
    token = tmp_path / "token"
    token.write_text("a.b.c\n")
    closed = f"http://127.0.0.1:{free_port()}"
    profile = tmp_path / "profile.yaml"
    args = {
        "bad-yaml": ("--st-profile", str(profile)),
        "bad-field": ("--st-profile", str(profile)),
        "unknown-builtin": ("--st-profile", str(tmp_path / "no-such-profile")),
        "vtt-profile": ("--st-profile", "vtt"),  # a built-in profile of another kind of API
        "missing-token": ("--host", closed, "--st-token-file", str(tmp_path / "nope")),
        "not-a-jwt": ("--host", closed, "--st-token-file", str(profile)),
        "unreachable": ("--host", closed, "--st-token-file", str(token)),
        "unknown-shape": ("--host", closed, "--st-shape", "sawtooth"),
        "unwritable-results": (
            "--host", closed, "--st-token-file", str(token),
            "--st-results", str(token / "results.jsonl"),  # under a file: cannot exist
        ),
        "bucket-over-stage": (
            "--host", closed, "--st-token-file", str(token),
            "--st-shape", "step", "--st-time-scale", "0.025", "--st-bucket-s", "10",
        ),
    }[case]  # fmt: skip
    profile.write_text("name: [oops\n" if case == "bad-yaml" else "name: x\nenvironment: prod\n")
    run = locust_run(*args, "-u", "1", "-t", "2s")
    assert run.returncode == 2, run.output[-2000:]
    (line,) = run.lines()
    assert expected in line
    assert "Traceback" not in run.output
    assert run.records == []
