"""`probes.run.Run` as a plain object: built without pytest, its clients on an injected transport.

The transport is httpx's in-process `MockTransport` (a unit test of the run's
wiring: preflight, breaker, sample records, redaction); the probes against a
real server are the fault matrix's and tests/test_suite.py's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from support import mint_token

from probes import profile as profiles
from probes import test_rate_limit as rate_limit_probe
from probes.plan import Cost
from probes.run import Run
from probes.target import Target

TOKEN = mint_token()  # minted at run time: no token is stored in the tree


def _run(
    tmp_path: Path,
    handler: Callable[[httpx.Request], httpx.Response],
    seen: list[str] | None = None,
    profile: profiles.Profile | None = None,
) -> Run:
    """A run on `handler`; `seen` collects the base URLs the transport was asked for."""
    seen = [] if seen is None else seen

    def transport(base_url: str) -> httpx.BaseTransport:
        seen.append(base_url)
        return httpx.MockTransport(handler)

    run = Run(
        profile=profile or profiles.builtin("embedded"),
        target=Target("http://target.invalid:8080", None, TOKEN, "signing-secret", False),
        run_id="unit",
        allow_mutating=False,
        examples=1,
        state_dir=tmp_path / "state",
        results_path=tmp_path / "results.jsonl",
        controller=True,
        transport=transport,
    )
    run.writer.prepare()
    return run


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_clients_of_a_run_use_its_transport_and_their_samples_are_recorded(
    tmp_path: Path,
) -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path} {request.headers['authorization']}")
        return httpx.Response(200, json={"ok": True})

    seen: list[str] = []
    run = _run(tmp_path, handler, seen)
    assert run.preflight() is None
    run.writer.finish()
    assert seen == ["http://target.invalid:8080"]
    first_get = next(e for e in run.profile.endpoints if e.method == "GET")
    assert asked == [f"GET {first_get.path} Bearer {TOKEN}"]
    (sample,) = [r for r in _records(run.results_path) if r["kind"] == "sample"]
    assert (sample["family"], sample["status"], sample["endpoint"]) == (
        "preflight",
        200,
        first_get.path,
    )
    assert TOKEN not in run.results_path.read_text()


def test_a_target_that_does_not_answer_opens_the_breaker_once(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    run = _run(tmp_path, handler)
    reason = run.preflight()
    run.writer.finish()
    assert reason is not None and reason.startswith("target unreachable"), reason
    assert run.breaker(run.target.base_url).open
    assert run.to_wire()["unavailable"] == {run.target.base_url: reason}


def test_the_wire_form_leaves_the_transport_behind(tmp_path: Path) -> None:
    run = _run(tmp_path, lambda request: httpx.Response(200))
    worker = Run.from_wire(run.to_wire())
    run.writer.finish()
    assert worker.transport is None and worker.controller is False
    assert worker.profile == run.profile and worker.target == run.target


def test_a_sample_sent_ahead_belongs_to_the_probe_it_was_sent_for(tmp_path: Path) -> None:
    """Run.attributed: per thread, so the probe being run keeps its own samples meanwhile."""
    run = _run(tmp_path, lambda request: httpx.Response(401))
    run.current_probe = ("probes/test_auth.py::first", "auth")
    client = run.client(run.target.base_url, token=None)

    def ahead() -> None:
        with run.attributed(("probes/test_auth.py::later", "auth")):
            client.request("GET", "/jobs")

    thread = threading.Thread(target=ahead)
    thread.start()
    thread.join(timeout=10)
    client.request("GET", "/jobs")
    client.close()
    run.writer.finish()
    probes = [r["probe"] for r in _records(run.results_path) if r["kind"] == "sample"]
    assert sorted(probes) == ["probes/test_auth.py::first", "probes/test_auth.py::later"]
    assert run.sent == {"probes/test_auth.py::first": 1, "probes/test_auth.py::later": 1}


def test_a_budgeted_run_charges_the_drain_its_time_not_its_requests(tmp_path: Path) -> None:
    """Its disguised requests are refused and take no token: at 10/s, burst 20, it holds
    the target at most an honest Retry-After (3 s) and leaves 2 s of refill, 49 paced
    requests, though it plans 94 to 311 requests."""
    embedded = profiles.builtin("embedded")
    limit = embedded.rate_limit.model_copy(update={"rate_per_second": 10, "burst": 20})
    profile = embedded.model_copy(update={"rate_limit": limit})
    run = _run(tmp_path, lambda request: httpx.Response(200), profile=profile)
    drain = [("test_limit_answers_429", "")]
    assert run.pacer.rate_per_second == 9.8
    assert rate_limit_probe.budget_requests(run, drain) == 49
    assert rate_limit_probe.planned_requests(run, drain) == Cost(94, 311)
