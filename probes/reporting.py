"""What a run leaves behind: outcome records, the end record, the summary, the TLS
textfile and the Allure extras. The controller registers `Recorder`; the rest are
called from the plugin's hooks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from probes.exchange import Exchange
from probes.outcomes import Inconclusive, is_inconclusive
from probes.plan import Progress
from probes.redact import redact
from probes.results import suite_commit
from probes.run import Run

PROBES_DIR = Path(__file__).resolve().parent


def family_of(nodeid: str) -> str:
    """`probes/test_rate_limit.py::...` belongs to the family `rate_limit`."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return module.removeprefix("test_").removesuffix(".py")


def _reason(report: pytest.TestReport) -> str | None:
    if report.skipped and isinstance(report.longrepr, tuple):
        # pytest names a skip exception's class before its message: "Skipped: ..."
        # for pytest.skip, the dotted class name for a subclass such as Inconclusive.
        inconclusive = f"{Inconclusive.__module__}.{Inconclusive.__qualname__}: "
        return str(report.longrepr[2]).removeprefix("Skipped: ").removeprefix(inconclusive)
    if report.failed:
        lines = [line for line in str(report.longrepr).splitlines() if line.strip()]
        return lines[0] if len(lines) == 1 else (lines[-1] if lines else None)
    return None


class Recorder:
    """Controller-only hooks: outcome records, the run's end record, the summary."""

    def __init__(self, run: Run, config: pytest.Config) -> None:
        self.run = run
        self.config = config
        self.metrics_lines: list[str] = []
        self.progress: Progress | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if not (final or (report.when == "teardown" and report.failed)):
            return
        props = dict(report.user_properties)
        outcome: str
        if report.when == "call":
            outcome = report.outcome
        else:
            outcome = "skipped" if report.skipped else "error"
        reason = redact(_reason(report) or "", self.run.secrets) or None
        record: dict[str, Any] = {
            "ts": time.time(),
            "probe": report.nodeid,
            "family": family_of(report.nodeid),
            "endpoint": props.get("endpoint"),
            "method": props.get("method"),
            "outcome": outcome,
            "duration_s": round(report.duration, 4),
            "reason": reason,
            "measured": props.get("measured"),
        }
        if is_inconclusive(reason):
            record["verdict"] = "inconclusive"
        self.run.outcomes.append(record)
        self.run.writer.write("outcome", record)
        requests = props.get("requests")
        self._progress(record["family"], requests if isinstance(requests, int) else None)

    def _progress(self, family: str, requests: int | None) -> None:
        """A line when a family's last probe has reported (the plan says how many)."""
        if self.run.plan is None:
            return
        if self.progress is None:
            self.progress = Progress(self.run.plan)
        line = self.progress.finished(family, requests)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if line is not None and reporter is not None:
            # pytest's progress dots do not end their line; start a fresh one for ours.
            writer = getattr(reporter, "_tw", None)
            if getattr(writer, "width_of_current_line", 0):
                reporter.write("\n")
            reporter.write_line(f"spacetime-probes: {line}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run = self.run
        counts = {k: 0 for k in ("passed", "failed", "skipped", "error")}
        for record in run.outcomes:
            counts[record["outcome"]] += 1
        run.writer.write(
            "run",
            {"phase": "end", "ts": time.time(), "profile": run.profile.name,
             "commit": suite_commit(PROBES_DIR), "exit_status": int(exitstatus), "counts": counts,
             "plan": None if run.plan is None else run.plan.to_record(),
             "coverage": run.coverage},
        )  # fmt: skip
        _write_allure_environment(session.config, run)
        _finish_allure_results(session.config)
        self.metrics_lines = _write_blackbox_metrics(run)
        if run.writer.error is not None:
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from probes.summary import render_summary

        run = self.run
        for line in render_summary(run.outcomes, run.profile, run.target, run.results_path):
            terminalreporter.write_line(line)
        for line in self.metrics_lines:
            terminalreporter.write_line(line)
        if run.writer.error is not None:
            terminalreporter.write_line(f"spacetime-probes: error: {run.writer.error}", red=True)


def _write_blackbox_metrics(run: Run) -> list[str]:
    """blackbox-style textfiles for node_exporter: TLS facts from the tls outcomes, HTTP
    facts from the health probes. Returns what to print for each: its path, or why it
    could not be written."""
    from probes.httpmetrics import HttpFacts
    from probes.httpmetrics import metrics_registry as http_registry
    from probes.tls import TlsFacts
    from probes.tls import metrics_registry as tls_registry

    tls: dict[str, TlsFacts] = {}
    http: dict[str, HttpFacts] = {}
    tls_success: dict[str, bool] = {}
    http_success: dict[str, bool] = {}
    for record in run.outcomes:
        measured = record.get("measured") or {}
        if record["family"] == "tls" and "url" in measured:
            url = measured["url"]
            tls.setdefault(url, TlsFacts.from_measured(measured))
            _tally(tls_success, url, record["outcome"])
        facts = HttpFacts.from_measured(measured)
        if facts is not None:
            http[facts.url] = facts  # the last request to a URL is what blackbox would see
            _tally(http_success, facts.url, record["outcome"])
    lines = []
    for kind, path, registry in (
        ("tls", run.tls_metrics_path, tls and tls_registry(tls.values(), tls_success)),
        ("http", run.http_metrics_path, http and http_registry(http.values(), http_success)),
    ):
        if registry and path is not None:
            lines.append(f"  {kind} metrics: {_write_textfile(path, registry)}")
    return lines


def _tally(success: dict[str, bool], url: str, outcome: str) -> None:
    """A URL succeeded when every probe of it that ran passed (skipped ones do not count)."""
    if outcome != "skipped":
        success[url] = success.get(url, True) and outcome == "passed"


def _write_textfile(path: Path, registry: Any) -> str:
    from prometheus_client import write_to_textfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry)
    except OSError as exc:
        return f"not written: {path}: {exc.strerror or exc}"
    return str(path)


def attach_exchange(exchange: Exchange, secrets: tuple[str, ...]) -> None:
    """The failing request and its answer, redacted, on the Allure result."""
    import allure

    from probes.allure_report import exchange_attachment

    allure.attach(
        exchange_attachment(exchange, secrets),
        name="exchange (redacted)",
        attachment_type=allure.attachment_type.TEXT,
    )


def _finish_allure_results(config: pytest.Config) -> None:
    """categories.json, and each failure's trace led by its probe path (the family rules)."""
    from probes.allure_report import finish_results

    directory = getattr(config.option, "allure_report_dir", None)
    if directory:
        finish_results(directory)


def _write_allure_environment(config: pytest.Config, run: Run) -> None:
    directory = getattr(config.option, "allure_report_dir", None)
    if not directory:
        return
    lines = {
        "target": run.target.base_url,
        "environment": run.profile.environment,
        "profile": run.profile.name,
        "commit": suite_commit(PROBES_DIR) or "unknown",
        "run_id": run.run_id,
    }
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        text = "".join(f"{k}={v}\n" for k, v in lines.items())
        (Path(directory) / "environment.properties").write_text(text, encoding="utf-8")
    except OSError:
        pass
