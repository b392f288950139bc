"""The probes' pytest plugin: hooks and fixtures; what they decide lives elsewhere.

The options are checked and turned into the `Run` by `probes.options` (pure but
for reading the files they name), reporting is `probes.reporting`'s, the run itself
`probes.run`'s; this module wires them into pytest.

Active only when the run collects the `probes` package, so the project's own
self-tests (`pytest tests`) load it without side effects. With pytest-xdist,
the controller resolves the target once (starting the embedded server if no
target is given) and hands it to the workers; every process appends samples
to the shared results file, and the controller alone writes outcomes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from probes import profile as profiles
from probes.budget import Case, fit, group_of
from probes.checks import ProbeFailure
from probes.client import MutationRefused, ProbeClient, one_line
from probes.options import Options, make_run, settle, target_source
from probes.outcomes import Inconclusive, TargetUnavailable
from probes.plan import NOTHING, Cost, RequestPlan, processes, split_nodeid
from probes.plan import from_record as plan_from_record
from probes.redact import redact
from probes.reporting import PROBES_DIR, Recorder, attach_exchange, family_of
from probes.results import new_run_id, suite_commit
from probes.run import RUN, ProbeContext, Run
from probes.target import Target, TargetError

WIRE_KEY = "spacetime_probes_run"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spacetime-probes", "SpaceTime probes (env var in brackets)")
    group.addoption(
        "--st-target",
        default=_env("ST_TARGET"),
        metavar="URL",
        help="HttpApiServer base URL [ST_TARGET]; none: start the embedded reference server",
    )
    group.addoption(
        "--st-manager-url",
        default=_env("ST_MANAGER_URL"),
        metavar="URL",
        help="manager base URL for /health [ST_MANAGER_URL]; default from the profile",
    )
    group.addoption(
        "--st-token-file",
        default=_env("ST_TOKEN_FILE"),
        metavar="PATH",
        help="file holding the JWT [ST_TOKEN_FILE]; default from the profile",
    )
    group.addoption(
        "--st-profile",
        default=_env("ST_PROFILE"),
        metavar="PATH|NAME",
        help="target profile YAML or built-in name (spacetime, embedded) [ST_PROFILE]",
    )
    group.addoption(
        "--st-secret-file",
        default=_env("ST_SECRET_FILE"),
        metavar="PATH",
        help="HS256 signing secret; enables the forged-claims probes [ST_SECRET_FILE]",
    )
    group.addoption(
        "--st-allow-mutating",
        action="store_true",
        default=_env("ST_ALLOW_MUTATING", "") in {"1", "true", "yes"},
        help="allow POST/PUT probes against a production target [ST_ALLOW_MUTATING=1]",
    )
    group.addoption(
        "--st-results",
        default=_env("ST_RESULTS"),
        metavar="PATH",
        help="JSON Lines results file (default reports/results.jsonl)",
    )
    group.addoption(
        "--st-examples",
        # Parsed when the run is resolved, so a bad ST_EXAMPLES is one line there,
        # and never breaks `pytest --help` or a run that does not collect the probes.
        default=_env("ST_EXAMPLES", "1"),
        metavar="N",
        help="hypothesis examples per traversal category and method",
    )
    group.addoption(
        "--st-budget",
        default=_env("ST_BUDGET"),
        metavar="SECONDS",
        help="fit the run in about this long at the profile's paced rate, rotating the matrix "
        "cases across runs by --st-slot (default: the whole matrix) [ST_BUDGET]",
    )
    group.addoption(
        "--st-slot",
        default=_env("ST_SLOT", _env("CI_PIPELINE_IID")),
        metavar="N",
        help="which slice of the matrix a budgeted run sends (default: the GitLab pipeline "
        "number, else the 5-minute period of the clock) [ST_SLOT]",
    )
    group.addoption(
        "--st-timeout",
        default=_env("ST_TIMEOUT"),
        metavar="SECONDS",
        help="total time a request may take; overrides the profile's request_timeout_s",
    )
    group.addoption(
        "--st-ca-file",
        default=_env("ST_CA_FILE"),
        metavar="PATH",
        help="PEM CA bundle to trust for an https target (default: certifi's) [ST_CA_FILE]",
    )
    group.addoption(
        "--st-tls-min-days",
        default=_env("ST_TLS_MIN_DAYS", "30"),
        metavar="DAYS",
        help="least days a certificate may have left before it expires (30) [ST_TLS_MIN_DAYS]",
    )
    group.addoption(
        "--st-tls-metrics",
        default=None,
        metavar="PATH",
        help="Prometheus textfile of the TLS facts (default: tls.prom beside the results)",
    )
    group.addoption(
        "--st-http-metrics",
        default=None,
        metavar="PATH",
        help="Prometheus textfile of the health probes' HTTP facts, blackbox_exporter's names "
        "(default: http.prom beside the results)",
    )
    group.addoption(
        "--st-embedded-fault",
        action="append",
        default=[],
        metavar="NAME",
        help="start the embedded reference server with this fault (repeatable)",
    )
    group.addoption(
        "--st-request-log",
        default=None,
        metavar="PATH",
        help="embedded server's request log (JSON Lines, no headers/bodies)",
    )


def is_probe_run(config: pytest.Config) -> bool:
    """True when the command line selects probes (files, directories or --pyargs probes)."""
    base = config.invocation_params.dir
    for arg in config.args:
        raw = arg.split("::", 1)[0]
        if raw == "probes" or raw.startswith("probes."):
            return True
        path = (base / raw).resolve()
        if path == PROBES_DIR or PROBES_DIR in path.parents:
            return True
    return False


def _default_outputs(config: pytest.Config, reports: Path) -> None:
    """JUnit and Allure land in reports/ unless the command line says otherwise."""
    if getattr(config.option, "xmlpath", None) is None and not hasattr(config, "workerinput"):
        config.option.xmlpath = str(reports / "junit.xml")
    if getattr(config.option, "allure_report_dir", None) is None:
        config.option.allure_report_dir = str(reports / "allure-results")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not is_probe_run(config):
        return
    config.addinivalue_line("markers", "mutating: sends POST/PUT; skipped on production")
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.stash[RUN] = Run.from_wire(workerinput[WIRE_KEY])
        return
    options = Options.from_config(config.getoption)
    try:
        settings = settle(options, now=time.time)
        _default_outputs(config, settings.results_path.parent)
        source = target_source(options, settings.profile)
        if isinstance(source, Target):
            target, server = source, None
        else:
            server = source.server()
            target = server.start()
    except (profiles.ProfileError, TargetError) as exc:
        # One line, whatever the file or field names held (a YAML key can hold a newline).
        raise pytest.UsageError(one_line(str(exc), 1000)) from None
    run = make_run(
        settings,
        target,
        run_id=new_run_id(),
        state_dir=Path(tempfile.mkdtemp(prefix="spacetime-probes-")),
        server=server,
    )
    profile = settings.profile
    config.stash[RUN] = run
    run.writer.prepare()
    run.writer.write(
        "run",
        {"phase": "start", "ts": run.started, "profile": profile.name,
         "commit": suite_commit(PROBES_DIR), "exit_status": None, "counts": None},
    )  # fmt: skip
    config.pluginmanager.register(Recorder(run, config), "spacetime-probes-recorder")
    run.preflight()
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(run), "spacetime-probes-xdist")


class _XdistHooks:
    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WIRE_KEY] = self.run.to_wire()

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """A worker wrote the plan during its collection, before it reported it finished;
        every worker collects the same probes, so the first one's is the run's."""
        if self.run.plan is not None:
            return
        try:
            record = json.loads((self.run.state_dir / PLAN_FILE).read_text(encoding="utf-8"))
            plan = plan_from_record(record["plan"])
            coverage = record["coverage"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # no plan is a missing line, never a failed run
        _announce(node.config, self.run, plan, coverage)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Nothing is sent after the last probe: the embedded server shuts down meanwhile."""
    run = session.config.stash.get(RUN, None)
    if run is not None and run.controller and run.server is not None:
        run.server.terminate()


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None or not run.controller:
        return
    if run.server is not None:
        run.server.stop()
    run.writer.finish()
    shutil.rmtree(run.state_dir, ignore_errors=True)


def get_run(config: pytest.Config) -> Run:
    run = config.stash.get(RUN, None)
    if run is None:
        raise pytest.UsageError("the probes' fixtures need a probe run: `pytest probes ...`")
    return run


# Collection: production safety and families --------------------------------------------


# Families about the connection, not the API: they apply to every profile, and
# decide for themselves from the URL (tls skips http:// targets).
TRANSPORT_FAMILIES = frozenset({"tls"})
# Run before every other family. The rate-limit drain empties the target's bucket on
# purpose: first, it spends the full bucket the run starts with instead of waiting for
# one, and the Retry-After it must honour refills the bucket for the others; a target
# that locks clients out is found before any other probe meets the lockout.
FIRST_FAMILIES = ("rate_limit",)


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: plan what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run = config.stash.get(RUN, None)
    if run is None:
        return
    # Families the profile does not list (or cannot serve) skip every probe, saying why.
    for item in items:
        family = family_of(item.nodeid)
        if family in TRANSPORT_FAMILIES:
            continue
        reason = run.profile.skip_reason(family)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
    if not run.mutating_allowed:
        skip = pytest.mark.skip(
            reason="mutating request against a production target (use --st-allow-mutating)"
        )
        for item in items:
            if item.get_closest_marker("mutating"):
                item.add_marker(skip)
    items.sort(key=lambda item: family_of(item.nodeid) not in FIRST_FAMILIES)  # stable
    coverage = None if run.budget_s is None else _fit_budget(config, run, items)
    plan = plan_items(run, items)
    if run.controller:
        _announce(config, run, plan, coverage)
    else:  # an xdist worker: the controller announces it (see _XdistHooks)
        path = run.state_dir / PLAN_FILE
        temporary = path.with_name(f".{PLAN_FILE}.{os.getpid()}")
        announced = {"plan": plan.to_record(), "coverage": coverage}
        temporary.write_text(json.dumps(announced), encoding="utf-8")
        os.replace(temporary, path)  # whole or absent, whichever worker writes last


def _runnable(items: Sequence[pytest.Item]) -> Iterator[tuple[pytest.Item, Any, str, str]]:
    """(item, its module, test function, parameter id) of each probe that will send
    requests: a probe marked skipped costs nothing and is reported as skipped."""
    for item in items:
        module = getattr(item, "module", None)
        if module is None or item.get_closest_marker("skip") is not None:
            continue
        _, function, params = split_nodeid(item.nodeid)
        yield item, module, function, params


def _fit_budget(config: pytest.Config, run: Run, items: list[pytest.Item]) -> dict[str, Any]:
    """Deselect the matrix cases other slots send (probes/budget.py); the coverage record."""
    assert run.budget_s is not None
    cases = []
    for item, module, function, params in _runnable(items):
        # A module whose probes hold the target for longer than their requests take at the
        # paced rate says so (`budget_requests`, the rate-limit drain); else the plan's high.
        budgeted = getattr(module, "budget_requests", None)
        cost_of = getattr(module, "planned_requests", None)
        if budgeted is not None:
            requests = budgeted(run, [(function, params)])
        else:
            requests = cost_of(run, [(function, params)]).high if cost_of is not None else 1
        controls: frozenset[str] = getattr(module, "CONTROLS", frozenset())
        cases.append(Case(item.nodeid, requests, group_of(function, params, controls)))
    coverage = fit(
        cases, budget_s=run.budget_s, rate_per_s=run.pacer.rate_per_second, slot=run.slot
    )
    left = set(coverage.left)
    if left:
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in left])
        items[:] = [i for i in items if i.nodeid not in left]
    return {**coverage.to_record(), "text": coverage.describe()}


PLAN_FILE = "plan.json"
SESSION = "session"  # the plan's line for what the run's fixtures send, not a family


def plan_items(run: Run, items: Sequence[pytest.Item]) -> RequestPlan:
    """The request plan of the collected probes that will run (skipped ones cost nothing)."""
    by_module: dict[Any, list[tuple[str, str]]] = defaultdict(list)
    family_of_module: dict[Any, str] = {}
    for item, module, function, params in _runnable(items):
        by_module[module].append((function, params))
        family_of_module[module] = family_of(item.nodeid)
    families: dict[str, Cost] = {}
    guarded = any("scene_guard" in getattr(item, "fixturenames", ()) for item in items)
    if guarded and run.profile.scenes:
        # scene_guard, once per process: the scene read at the start; at the end read
        # again and, if a probe changed it, put back (its requests count in the family
        # of the probe that first asked for it).
        families[SESSION] = Cost(1, 3) * processes()
    unplanned: set[str] = set()
    for module, tests in by_module.items():
        family = family_of_module[module]
        cost_of = getattr(module, "planned_requests", None)
        if cost_of is None:
            unplanned.add(family)
            continue
        families[family] = families.get(family, NOTHING) + cost_of(run, tests)
    probes: dict[str, int] = defaultdict(int)  # every collected probe reports, skipped or not
    for item in items:
        probes[family_of(item.nodeid)] += 1
    return RequestPlan(families, tuple(sorted(unplanned)), run.pacer.rate_per_second, dict(probes))


def _announce(
    config: pytest.Config, run: Run, plan: RequestPlan, coverage: dict[str, Any] | None
) -> None:
    """Print the plan (and a budgeted run's coverage) before the first probe runs, and keep
    both for the run's end record."""
    if run.plan is not None:
        return
    run.plan = plan
    run.coverage = coverage
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"spacetime-probes {plan.describe()}")
        if coverage is not None:
            reporter.write_line(f"spacetime-probes {coverage['text']}")


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def st_run(request: pytest.FixtureRequest) -> Run:
    return get_run(request.config)


@pytest.fixture(scope="session")
def st_client(st_run: Run) -> Iterator[ProbeClient]:
    client = st_run.client(st_run.target.base_url, token=st_run.target.token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def st_manager(st_run: Run) -> Iterator[ProbeClient]:
    if st_run.target.manager_url is None:
        pytest.skip("no manager URL (--st-manager-url or manager_url in the profile)")
    client = st_run.client(st_run.target.manager_url, token=None)
    yield client
    client.close()


@pytest.fixture(scope="session")
def scene_guard(st_run: Run, st_client: ProbeClient) -> Iterator[str]:
    """The scene loaded when the probes began; loaded again when they end.

    POST /scene changes what the target shows; a probe run must leave it as
    it found it. Yields the scene to use in request bodies.
    """
    if not st_run.profile.scenes:  # an API without scenes (kind vtt): nothing to guard
        yield ""
        return
    fallback = st_run.profile.scenes[0]
    try:
        exchange = st_client.request("GET", "/scene", expect={200})
        original = exchange.json()["scene_path"] if exchange.status == 200 else None
    except (ValueError, KeyError, TypeError, TargetUnavailable):
        original = None  # a target that is down: each probe fails with the reason itself
    scene = original if isinstance(original, str) else fallback
    yield scene
    if st_run.mutating_allowed and isinstance(original, str) and not st_client.breaker.open:
        after = st_client.request("GET", "/scene", expect={200})
        try:
            current = after.json().get("scene_path")
        except (ValueError, AttributeError):
            current = None
        if current != original:
            st_client.request("POST", "/scene", json_body={"scene_path": original}, expect={200})


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> ProbeContext:
    return ProbeContext(request.node)


# Reports: one line per failure, redacted, and the outcome records -------------------------


def _redact_exception(exc: BaseException, secrets: tuple[str, ...]) -> None:
    """Redact an exception's message in place, before any reporter formats it.

    Allure and JUnit read the exception itself, not our rewritten report;
    a message can carry what a hostile target sent back.
    """
    if isinstance(exc, ProbeFailure):
        exc.reason = redact(exc.reason, secrets)
    message = getattr(exc, "msg", None)  # pytest's skip/fail/xfail outcomes
    if isinstance(message, str):
        with contextlib.suppress(AttributeError):
            exc.msg = redact(message, secrets)  # type: ignore[attr-defined]
    with contextlib.suppress(AttributeError, TypeError):
        exc.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in exc.args)


def _redacting(item: pytest.Item) -> Iterator[None]:
    run = item.config.stash.get(RUN, None)
    try:
        return (yield)
    except BaseException as exc:
        if run is not None:
            _redact_exception(exc, run.secrets)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Samples belong to the probe being set up, even those its session fixtures send."""
    run = item.config.stash.get(RUN, None)
    if run is not None:
        run.current_probe = (item.nodeid, family_of(item.nodeid))
    return (yield from _redacting(item))


pytest_runtest_call = pytest.hookimpl(wrapper=True)(_redacting)
pytest_runtest_teardown = pytest.hookimpl(wrapper=True)(_redacting)


# pytest's methods that turn a failure into its report (the test's call; setup, teardown).
_FAILURE_REPRS = ("repr_failure", "_repr_failure_py")


def _saying(line: str) -> Callable[..., str]:
    """A stand-in for `_FAILURE_REPRS` on one item: the report is `line`, whatever asked."""

    def represent(*_args: object, **_kwargs: object) -> str:
        return line

    return represent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    run = item.config.stash.get(RUN, None)
    if run is not None:  # so far (setup, call, teardown); the report copies the properties
        item.user_properties[:] = [p for p in item.user_properties if p[0] != "requests"]
        item.user_properties.append(("requests", run.sent.get(item.nodeid, 0)))
    excinfo = call.excinfo
    failure = excinfo.value if excinfo is not None else None
    line: str | None = None
    if run is not None and isinstance(failure, ProbeFailure):
        line = failure.reason
        if failure.exchange is not None:
            line += f" | reproduce: {failure.exchange.curl(run.secrets)}"
        line = redact(line, run.secrets)
        # The report is this one line: pytest would first build a traceback of every frame
        # from its parsed source, to be thrown away (14 ms a failure; 5 s when an outage
        # fails every probe at once).
        vars(item).update(dict.fromkeys(_FAILURE_REPRS, _saying(line)))
    try:
        report = yield
    finally:
        for name in _FAILURE_REPRS:
            vars(item).pop(name, None)
    if run is not None and excinfo is not None and excinfo.errisinstance(Inconclusive):
        # A JUnit property too, so GitLab's test report tells "could not decide" from "n/a".
        item.user_properties.append(("verdict", "inconclusive"))
    if run is None or not report.failed:
        return report
    if line is not None:  # the report is already `line` (the stand-in made it)
        assert isinstance(failure, ProbeFailure)
        if failure.exchange is not None:
            attach_exchange(failure.exchange, run.secrets)
    elif excinfo is not None and isinstance(excinfo.value, MutationRefused):
        report.longrepr = str(excinfo.value)
    else:
        report.longrepr = redact(str(report.longrepr), run.secrets)
    report.sections = [(name, redact(text, run.secrets)) for name, text in report.sections]
    return report
