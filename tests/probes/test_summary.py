"""The end-of-run summary names an outage once and lists inconclusive probes apart."""

from __future__ import annotations

from pathlib import Path

from probes import profile as profiles
from probes.summary import render_summary
from probes.target import Target

TARGET = Target("http://t", None, "tok", None, embedded=False)


def _record(probe: str, outcome: str, reason: str | None, **extra: object) -> dict[str, object]:
    family = probe.split("::")[0].removeprefix("probes/test_").removesuffix(".py")
    return {"probe": probe, "family": family, "outcome": outcome, "reason": reason, **extra}


def test_an_outage_is_one_line_with_its_count() -> None:
    reason = "target unreachable: cannot connect: refused"
    outcomes = [_record(f"probes/test_auth.py::t{i}", "failed", reason) for i in range(3)]
    lines = render_summary(outcomes, profiles.builtin("spacetime"), TARGET, Path("r.jsonl"))
    assert f"  {reason} (3 probes failed fast, nothing sent)" in lines


def test_inconclusive_probes_are_listed_apart_from_failures() -> None:
    outcomes = [
        _record("probes/test_latency.py::x", "skipped", "inconclusive: probe-bound: 3 r/s",
                verdict="inconclusive"),
        _record("probes/test_tls.py::y", "skipped", "http target"),
    ]  # fmt: skip
    lines = render_summary(outcomes, profiles.builtin("spacetime"), TARGET, Path("r.jsonl"))
    assert "  inconclusive (the probe's limit, not a failure): 1" in lines
    assert "    probes/test_latency.py::x: probe-bound: 3 r/s" in lines
    assert "  failing families: none" in lines
    assert not any(line.startswith(("  target unreachable", "  locked out")) for line in lines)


def test_each_failure_is_listed_with_its_whole_reason() -> None:
    """pytest's short summary cuts a reason at the terminal's width; this list does not."""
    reason = "GET /jobs drained unauthenticated: " + "a client-controlled input reset " * 8
    outcomes = [
        _record("probes/test_rate_limit.py::t[unauthenticated]", "failed", reason),
        _record("probes/test_auth.py::ok", "passed", None),
    ]
    lines = render_summary(outcomes, profiles.builtin("spacetime"), TARGET, Path("r.jsonl"))
    assert "  failures: 1" in lines
    assert f"    probes/test_rate_limit.py::t[unauthenticated]: {reason}" in lines
    outage = [_record("probes/test_auth.py::t", "failed", "target unreachable: refused")]
    lines = render_summary(outage, profiles.builtin("spacetime"), TARGET, Path("r.jsonl"))
    assert not any(line.startswith("  failures") for line in lines)  # said once, above
