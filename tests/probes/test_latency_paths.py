"""The latency probe against targets slower and farther than loopback: no false alarms.

The issue's targets: every answer in 90 ms on a 50 r/s profile (10 of 11
probes "breached" at p95 ~930 ms, the probe's own queue on one connection),
and a path with a 150 ms round trip and jitter. Each run here is `pytest
probes/test_latency.py` as a user runs it, against a reference server
started apart (an external target with its token file and a profile
stating its limit and a few endpoints, so a run stays well under a minute),
directly or through the delaying proxy. A conforming target must be met,
or at worst inconclusive; never a breach. The faults' side (each latency
fault still fails the family) is the fault matrix's, tests/test_fault_matrix.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ProbeRun, family_against_refserver, stalled_now_and_then

pytestmark = pytest.mark.integration

RATE, BURST = 50, 50
# Three API endpoints (one mutating, with a body) and the manager's /health: m = 4.
ENDPOINTS = [
    {"method": "GET", "path": "/status", "auth": False},
    {"method": "GET", "path": "/scenes"},
    {"method": "POST", "path": "/scene", "body": {"scene_path": "{scene}"}},
]
RUN_TIMEOUT_S = 120


def _latency_probes(tmp_path: Path, *server_args: str, rtt_ms: float | None = None) -> ProbeRun:
    """The latency family against `refserver --rate 50 --burst 50 *server_args`."""
    return family_against_refserver(
        tmp_path, "latency", *server_args, rate_per_second=RATE, burst=BURST,
        profile_extra={"endpoints": ENDPOINTS}, rtt_ms=rtt_ms, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip


def _latency_records(run: ProbeRun) -> list[dict]:
    records = [r for r in run.records if r["kind"] == "outcome" and r["family"] == "latency"]
    assert len(records) == len(ENDPOINTS) + 1, run.output[-3000:]
    return records


def test_uniformly_slow_target_is_met_and_measured_as_itself(tmp_path: Path) -> None:
    """Every answer in 90 ms: met, with p95 the service time, not the probe's queue."""
    run = _latency_probes(tmp_path, "--latency-ms", "90")
    assert run.returncode == 0, run.output[-3000:]
    for record in _latency_records(run):
        measured = record["measured"]
        assert record["outcome"] == "passed", record
        assert measured["verdict"] == "met"
        assert 90 <= measured["p95_ms"] < 120, measured
        # Little's law: 20 r/s x 90 ms x 2 + 1 connections at least. A wait may still be
        # charged now and then on a loaded CI machine (all connections busy at once, seen
        # 3 of 80 once); what must hold is the verdict and the figure above.
        assert measured["connections"] >= 5, measured
        assert measured["endpoints_m"] == len(ENDPOINTS) + 1


def test_a_probe_the_machine_stops_now_and_then_does_not_blame_the_target(
    tmp_path: Path,
) -> None:
    """CI's false alarm: the probe not run for 0.8 s every 2 s against a 90 ms target.

    Requests due while it was stopped must not all go out at once when it
    resumes: they would fill every connection by the probe's own doing and the
    wait for one would be charged to the target (seen: p95 162 ms of a 90 ms
    target, and a breach through a 150 ms path). Met, or inconclusive because
    the probe could not keep its schedule; never a breach, never a charged wait.
    """
    # Stalls of 0.5 s every 1.2 s: an endpoint's sampling (under a second) nearly always
    # meets one; lateness over 300 ms below shows which did.
    with stalled_now_and_then("probes/test_latency.py", every_s=1.2, length_s=0.5) as stalls:
        run = _latency_probes(tmp_path, "--latency-ms", "90")
    assert len(stalls) >= 3, "the staller never stopped the probe"
    assert run.returncode == 0, run.output[-3000:]
    records = _latency_records(run)
    for record in records:
        measured = record["measured"]
        assert record["outcome"] in {"passed", "skipped"}, record
        assert measured["charged_samples"] == 0, measured
    # Not every endpoint's sampling meets a stall; the stalls that were met were seen
    # as the probe's own lateness, never the target's.
    stalled = [r for r in records if r["measured"]["lateness_max_ms"] > 300]
    assert len(stalled) >= 2, [r["measured"]["lateness_max_ms"] for r in records]


def test_target_across_a_150ms_jittery_path_is_not_a_breach(tmp_path: Path) -> None:
    """150 ms round trip, +-10 ms each way: ~175 ms at worst, a breach only if the probe erred.

    The proxy delays a new connection's first bytes one more round trip, so a
    sample on a cold connection would read ~320 ms: the warm-up must have
    opened every connection the schedule uses.
    """
    run = _latency_probes(tmp_path, rtt_ms=150)
    assert run.returncode == 0, run.output[-3000:]
    for record in _latency_records(run):
        measured = record["measured"]
        assert record["outcome"] in {"passed", "skipped"}, record
        assert measured["verdict"] in {"met", "inconclusive"}, measured
        assert 150 <= measured["p50_ms"] < 190, measured


def test_a_tail_just_under_the_percentile_is_never_a_breach(tmp_path: Path) -> None:
    """4 % of answers at 300 ms where 5 % may exceed: met or inconclusive, reported as such."""
    run = _latency_probes(
        tmp_path, "--latency-ms", "20", "--latency-tail-ratio", "0.04",
        "--latency-tail-ms", "300", "--latency-seed", "11",
    )  # fmt: skip
    assert run.returncode == 0, run.output[-3000:]
    for record in _latency_records(run):
        measured = record["measured"]
        assert record["outcome"] in {"passed", "skipped"}, record
        if record["outcome"] == "skipped":
            assert "inconclusive: " in record["reason"], record
            assert measured["decision"] == "inconclusive"
            assert measured["samples"] == 120  # every look taken, none decided
