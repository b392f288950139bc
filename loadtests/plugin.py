"""Locust wiring: setup from the `--st-*` options (options.py), the per-process state,
worker-to-master merging, the results file and the headless verdict.

Event flow (each process runs the same hooks, and picks its role):

- master or local, `init`: read profile, token, stage table; refuse production
  without `--st-allow-production`; check the target accepts connections. Any
  problem is one `loadtests: ...` line on stderr and exit status 2.
- worker, `test_start`: build the same state from the options the master sent.
- users (local, worker) record each request's exact latency into the `LatencyBook`.
- `report_to_master` / `worker_report`: ship drained tallies (HDR `encode()`),
  add them on the master (`decode_and_add`).
- master or local: a greenlet closes buckets once no worker can still report
  into them and appends `aggregate` records; `quitting` closes the rest,
  judges the thresholds, prints the figures and sets the exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests import state, webui
from loadtests.latency import LatencyBook, Segment
from loadtests.openmodel import dispatcher_count
from loadtests.options import form_values  # (importing it registers the --st-* options)
from loadtests.results import LoadResults, RunInfo, without_credentials
from loadtests.settings import Settings, SettingsError, refuse_production, token_path
from loadtests.settings import build as build_settings
from loadtests.stages import StageError, bucket_width, load_tables, select
from loadtests.state import ProcessState, Token
from loadtests.summary import (
    check_lines,
    document,
    endpoint_summaries,
    exact_table,
    open_figures,
    open_line,
    passed_line,
)
from loadtests.thresholds import checks, judge, reason
from probes.profile import Profile, ProfileError
from probes.profile import load as load_profile
from probes.results import suite_commit
from probes.target import TargetError, read_secret_file

PREFIX = "loadtests: "
DEFAULT_BUCKET_S = 10.0
SEGMENT_MESSAGE = "spacetime_segments"  # master -> workers: where each stage's buckets begin
FLUSH_EVERY_S = 1.0
# A bucket is written this long after it ends: workers report every 3 s, and a
# request is filed under the bucket it started in, so slow answers land late.
FLUSH_LAG_S = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent


class SetupError(Exception):
    """A run that must not start; the message is the one line the user sees."""


def say(line: str) -> None:
    print(PREFIX + line, file=sys.stderr, flush=True)


# -- setup (pure-ish: reads files, may touch the network once) -----------------------


def _settings(options: Any) -> Settings:
    """The probes' profile loader (a path or a built-in name), then the options over it."""
    profile: Profile | None = None
    try:
        if getattr(options, "st_profile", None):
            profile = load_profile(options.st_profile)
        return build_settings(vars(options), profile)
    except (ProfileError, SettingsError) as exc:
        raise SetupError(str(exc)) from None


def _token(settings: Settings) -> Token:
    """The JWT, read as the probes read it (`probes.target.read_secret_file`)."""
    path = token_path(settings, cwd=Path.cwd())
    try:
        value = read_secret_file(path, "token file")
    except TargetError as exc:
        raise SetupError(f"{exc} (give --st-token-file or token_file in the profile)") from None
    if any(c.isspace() for c in value) or value.count(".") != 2:
        raise SetupError(f"token file {path}: expected one JWT (three dot-separated parts)")
    return Token(value)


def _reachable(url: str, timeout_s: float = 3.0) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise SetupError(f"target {url} is unreachable: {exc.strerror or exc}") from None


def _writable(path: Path) -> None:
    """Fail before the run, not after it, when the results cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SetupError(f"cannot write results to {path}: {exc.strerror or exc}") from None


def _state(environment: Environment, settings: Settings, token: Token) -> ProcessState:
    runner = environment.runner
    table = None
    try:
        if settings.shape is not None:  # workers too: their buckets must be the master's width
            table = select(load_tables(settings.stages_path), settings.shape)
            table = table.scaled(settings.time_scale)
        bucket_s = bucket_width(table, settings.bucket_s, default_s=DEFAULT_BUCKET_S)
    except StageError as exc:
        raise SetupError(str(exc)) from None
    distributed = isinstance(runner, MasterRunner | WorkerRunner)
    workers = int(getattr(environment.parsed_options, "expect_workers", None) or 1)
    model = settings.open_model
    return ProcessState(
        settings=settings,
        token=token,
        book=LatencyBook(settings.policy.sla_ms, bucket_s),
        dispatchers=dispatcher_count(model.dispatchers if model else None, workers, distributed),
        table=None if isinstance(runner, WorkerRunner) else table,  # the master runs shapes
    )


# -- per-process lifecycle -----------------------------------------------------------


class Coordinator:
    """The master's (or local process's) results side: flushing, final verdict."""

    def __init__(self, environment: Environment, st: ProcessState) -> None:
        self.environment = environment
        self.st = st
        self.writer: LoadResults | None = None
        self.flusher: gevent.Greenlet | None = None
        self.started = False
        self.form: dict[str, Any] = {}  # the --st-* form values the state was built from

    def start(self) -> None:
        if self.started:
            return  # a second test from the web UI continues the same run
        self.started = True
        settings = self.st.settings
        info = RunInfo(
            run_id=uuid.uuid4().hex,
            target=settings.target or (self.environment.host or ""),
            environment=settings.environment,
            profile=settings.profile_name,
            commit=suite_commit(REPO_ROOT),
        )
        self.writer = LoadResults(settings.results_path, info)
        self.writer.start(time.time())
        self.flusher = gevent.spawn(self._flush_forever)

    def _flush_forever(self) -> None:
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self._write(self.st.book.close_due(time.time(), FLUSH_LAG_S))

    def _write(self, closed: Sequence[Any]) -> None:
        if self.writer is None:
            return
        log = self.st.stage_log
        for bucket in closed:
            stage = log.for_bucket(bucket.start_s, bucket.bucket_s)
            self.writer.aggregate(bucket, stage, self.st.settings.policy.sla_ms)

    def finish(self) -> None:
        if not self.started:
            return  # never started (web UI closed before a test)
        if self.flusher is not None:
            self.flusher.kill(block=False)
        book = self.st.book
        self._write(book.close_all(time.time()))
        policy = self.st.settings.policy
        summaries = endpoint_summaries(book, policy.percentile)
        counts = book.open_counts
        model = self.st.settings.open_model
        open_counts = {
            "intended": counts.intended if model else 0,
            "dropped": counts.dropped if model else 0,
        }
        breaches = judge(summaries, policy, **open_counts)
        failure = reason(breaches)
        runner = self.environment.runner
        code = 1 if failure else 0
        if not failure and runner is not None and runner.exceptions:
            code = int(getattr(self.environment.parsed_options, "exit_code_on_error", 1))
        code = max(code, self.environment.process_exit_code or 0)
        self.environment.process_exit_code = code

        for line in exact_table(book, policy.percentile):
            say(line)
        if model:
            say(open_line(open_figures(book)))
        for line in check_lines(checks(summaries, policy, **open_counts)):
            say(line)
        if book.late_folded:
            say(
                f"{book.late_folded} requests answered after their bucket was written "
                "were counted in the next bucket"
            )
        if failure:
            print(failure, file=sys.stderr, flush=True)
        else:
            say(passed_line(policy))
        if self.writer is not None:
            self.writer.end(time.time(), code, sum(s.total for s in summaries))
            self.writer.close()
            if self.writer.error is not None:
                say(self.writer.error)  # e.g. a full disk: the figures are incomplete
                code = self.environment.process_exit_code = max(code, 3)
            else:
                say(f"results: {self.st.settings.results_path} (run {self.writer.info.run_id})")
        if self.st.settings.summary_path is not None:
            body = document(
                book,
                summaries,
                policy,
                run_id=self.writer.info.run_id if self.writer else None,
                failure=failure,
                exit_code=code,
                open_model=model is not None,
            )
            _write_summary(self.st.settings.summary_path, body)
        if self.st.table is not None and self.writer is not None:
            _print_capacity(self.st.settings.results_path, self.writer.info.run_id, policy)


def _write_summary(path: Path, body: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        say(f"cannot write summary to {path}: {exc.strerror or exc}")


def _print_capacity(results: Path, run_id: str, policy: Any) -> None:
    from loadtests.capacity import Limits, build
    from slo.errors import SloError
    from slo.sources import read_all

    limits = Limits(
        percentile=policy.percentile,
        max_error_ratio=policy.max_error_ratio,
        max_rate_limited_ratio=policy.max_rate_limited_ratio,
    )
    try:
        records, _ = read_all(results)  # the file this run just wrote
        report = build(records, run_id=run_id, limits=limits)
    except (SloError, ValueError):
        return
    print("\n" + report.markdown(), file=sys.stderr, flush=True)


# -- event hooks -----------------------------------------------------------------------

_coordinators: dict[int, Coordinator] = {}


def _exit_with_parent(parent_pid: int) -> None:
    """A `--processes` worker ends when its master does.

    Locust's own clean-up of forked workers does not fire when the master
    exits early (e.g. a refused setup), and an orphan would join the next run
    on the same master port.
    """
    while True:
        if os.getppid() != parent_pid or parent_pid == 1:
            os._exit(2)
        gevent.sleep(1.0)


def _fail(message: str) -> None:
    say(message)
    sys.exit(2)


@events.init.add_listener
def on_init(
    environment: Environment, runner: Any = None, web_ui: Any = None, **_kwargs: Any
) -> None:
    if isinstance(runner, WorkerRunner):
        environment.events.report_to_master.add_listener(_reporter(environment))
        runner.register_message(SEGMENT_MESSAGE, _segment_receiver(environment))
        if getattr(environment.parsed_options, "processes", None):
            gevent.spawn(_exit_with_parent, os.getppid())
        return
    options = environment.parsed_options
    if options is None:
        return
    try:
        settings = _settings(options)
        if refusal := refuse_production(settings):
            raise SetupError(refusal)
        token = _token(settings)
        st = _state(environment, settings, token)
        _writable(settings.results_path)
        if settings.target is not None and getattr(options, "headless", False):
            _reachable(settings.target)
    except SetupError as exc:
        _fail(str(exc))
        return
    if settings.target and not environment.host:
        environment.host = settings.target  # the profile's target stands in for --host
    _attach(environment, st)
    coordinator = Coordinator(environment, st)
    coordinator.form = form_values(options)
    _coordinators[id(environment)] = coordinator
    state.on_shape_start(environment, lambda: _apply_form(environment))
    if web_ui is not None:
        webui.install(web_ui, lambda: state.of(environment))
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(_merger(environment))
    if runner is not None and getattr(options, "headless", False):
        gevent.signal_handler(signal.SIGTERM, _end_shape_on_sigterm, runner)
        if not getattr(options, "st_stats_table", False):
            options.only_summary = True  # stage lines instead of Locust's table every 2 s


def _attach(environment: Environment, st: ProcessState) -> None:
    """Make `st` the process's state; a stage change prints its line and tells the workers."""

    def on_stage(_segment: Segment, line: str | None) -> None:
        if line is not None:
            say(line)
        runner = environment.runner
        if isinstance(runner, MasterRunner):
            segments = [[s.origin_s, s.first_index] for s in st.book.segments[1:]]
            runner.send_message(SEGMENT_MESSAGE, {"segments": segments})

    st.stage_listeners.append(on_stage)
    state.attach(environment, st)


_pending_segments: dict[int, list[list[float]]] = {}


def _segment_receiver(environment: Environment) -> Any:
    """A worker numbers its buckets as the master does: the master's stage changes."""

    def on_segments(msg: Any, **_kwargs: Any) -> None:
        segments = list(msg.data.get("segments") or [])
        st = state.of(environment)
        if st is None:  # the message comes before the spawn that starts the test
            _pending_segments[id(environment)] = segments
        else:
            _apply_segments(st, segments)

    return on_segments


def _apply_segments(st: ProcessState, segments: Sequence[Sequence[float]]) -> None:
    for origin_s, first_index in segments:
        st.book.new_segment(float(origin_s), int(first_index))


def _end_shape_on_sigterm(runner: Any) -> None:
    """SIGTERM ends a headless run cleanly: thresholds judged, results and end record written.

    Locust installs its own SIGTERM handler only after a headless shape has
    finished, so before that a SIGTERM (a CI timeout, `kill`) would end the
    process at once. Ending the shape lets Locust stop and quit as when a
    shape completes; once its own handler is in place, this one stands aside.
    """
    shape = getattr(runner, "shape_greenlet", None)
    if shape is not None and not shape.dead:
        say("SIGTERM: ending the run")
        shape.kill(block=False)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        if state.of(environment) is None:
            try:
                settings = _settings(environment.parsed_options)
                st = _state(environment, settings, _token(settings))
                _apply_segments(st, _pending_segments.pop(id(environment), []))
                state.attach(environment, st)
            except SetupError as exc:
                say(f"worker cannot start: {exc}")
                environment.runner.quit()
        return
    coordinator = _coordinators.get(id(environment))
    if coordinator is None or not _apply_form(environment):
        return
    st = coordinator.st
    if environment.host and environment.host.rstrip("/") != (st.settings.target or ""):
        # The web UI may name another host: judge it by the same safety rule.
        st.settings = _retarget(st.settings, environment.host)
        if refusal := refuse_production(st.settings):
            say(refusal)
            if environment.runner is not None:
                gevent.spawn(environment.runner.quit)
            return
    coordinator.start()


def _apply_form(environment: Environment) -> bool:
    """Web UI: build this start's settings from the form's --st-* values.

    Called as a shape starts (before its first tick) and at test start; only
    a change of the values rebuilds. The first start builds the state afresh;
    a later one keeps the run's tallies and its bucket width, and refuses a new
    SLA (the tallies counted answers within the old one). False: do not start.
    """
    coordinator = _coordinators.get(id(environment))
    options = environment.parsed_options
    if coordinator is None or options is None or getattr(options, "headless", False):
        return True
    try:
        values = form_values(options)
        if values == coordinator.form:
            return True
        settings = _settings(options)
        fresh = _state(environment, settings, coordinator.st.token)
    except (SettingsError, SetupError) as exc:
        return _refuse_start(environment, str(exc))
    old = coordinator.st
    if coordinator.started:
        if settings.policy.sla_ms != old.settings.policy.sla_ms:
            return _refuse_start(
                environment,
                f"--st-sla-ms cannot change within a run ({old.settings.policy.sla_ms:g} ms): "
                "restart Locust to judge another SLA",
            )
        fresh.book, fresh.stage_log = old.book, old.stage_log
    coordinator.form = values
    coordinator.st = fresh
    _attach(environment, fresh)
    return True


def _refuse_start(environment: Environment, line: str) -> bool:
    say(line)
    if environment.runner is not None:
        gevent.spawn(environment.runner.stop)
    return False


def _retarget(settings: Settings, host: str) -> Settings:
    return replace(settings, target=without_credentials(host))


@events.quitting.add_listener
def on_quitting(environment: Environment, **_kwargs: Any) -> None:
    coordinator = _coordinators.get(id(environment))
    if coordinator is not None:
        coordinator.finish()


def _reporter(environment: Environment) -> Any:
    def on_report(data: dict[str, Any], **_kwargs: Any) -> None:
        st = state.of(environment)
        if st is not None:
            data["spacetime"] = st.book.drain()

    return on_report


def _merger(environment: Environment) -> Any:
    def on_worker_report(data: dict[str, Any], **_kwargs: Any) -> None:
        st = state.of(environment)
        payload = data.get("spacetime")
        if st is not None and payload:
            st.book.merge(payload)

    return on_worker_report
