"""``python -m slo`` / ``slo``: ingest, report, gate, rules, capacity, push.

The shell: it parses options into objects at the edge, reads the clock once (``--now``
overrides it), opens files and sockets, and hands plain data to the pure core. Every bad
input ends as ONE line on stderr, ``slo: error: <file>: <field>: <expected>``, exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from slo import loadbudget as cap
from slo import notify, render, runmetrics
from slo import spec as specs
from slo.errors import SloError
from slo.evaluate import build_report
from slo.files import write_atomic
from slo.model import History, Report, Spec, StepRow

if TYPE_CHECKING:  # imported where used: sqlite3 stays out of `slo rules`
    from loadtests.capacity import CapacityReport as LoadCapacity
    from slo.store import Ledger

DEFAULT_LEDGER = "reports/slo-ledger.sqlite"
DEFAULT_OUT_DIR = "reports/slo"
FORMATS = ("md", "html", "json", "png")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"slo: error: (command line): {self.prog}: {message}\n")


# ----------------------------------------------------------------------------- option types


def parse_now(text: str) -> float:
    """``--now``: epoch seconds or ISO 8601 (``2024-05-01T12:00:00Z``); naive means UTC."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ISO 8601 (2024-05-01T12:00:00Z) or epoch seconds, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_formats(text: str) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"expected a comma list of {', '.join(FORMATS)}, got {text!r}"
        )
    return items


def parse_thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(sorted({float(p) for p in text.split(",") if p.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,6,14.4, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 1,6,14.4, got {text!r}")
    return values


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="slo",
        description="Error-budget reports and the pre-deploy gate from probe and load results.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser, ledger: bool = True) -> None:
        p.add_argument(
            "--spec",
            type=Path,
            help="SLO spec (native or OpenSLO); default: packaged SpaceTime SLOs",
        )
        p.add_argument("--policy", type=Path, help="policy/gate YAML overriding the spec's")
        if ledger:
            p.add_argument(
                "--ledger",
                type=Path,
                default=Path(os.environ.get("SLO_LEDGER", DEFAULT_LEDGER)),
                help=f"SQLite ledger (default {DEFAULT_LEDGER}, or $SLO_LEDGER)",
            )

    def evaluation(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--environment", help="environment to judge (default: the ledger's only one)"
        )
        p.add_argument("--now", type=parse_now, help="evaluation time, ISO 8601 or epoch (tests)")
        p.add_argument("--source", choices=("ledger", "prometheus"), default="ledger")
        p.add_argument("--prometheus-url", help="Prometheus base URL for --source prometheus")

    p = sub.add_parser("ingest", help="count results files into the ledger (idempotent)")
    p.add_argument("files", nargs="+", type=Path)
    common(p)

    p = sub.add_parser("report", help="Markdown/HTML/JSON/PNG error-budget report")
    common(p)
    evaluation(p)
    p.add_argument("--out-dir", type=Path, default=Path(DEFAULT_OUT_DIR))
    p.add_argument(
        "--format", type=parse_formats, default=FORMATS, help="comma list of md,html,json,png"
    )
    p.add_argument("--quiet", action="store_true", help="do not print the Markdown to stdout")

    p = sub.add_parser("gate", help="exit 0 go, 1 freeze, 2 no data or invalid input")
    common(p)
    evaluation(p)

    p = sub.add_parser("rules", help="Prometheus recording and multi-window alert rules")
    common(p, ledger=False)
    p.add_argument("--out", type=Path, help="write here instead of stdout")

    p = sub.add_parser(
        "capacity",
        help="capacity of a stepped load run: load, percentiles, 429s, SLI and burn rate per "
        "stage (FILE), or the error budget's view alone (--ledger)",
    )
    p.add_argument("files", nargs="*", type=Path, help="load results file(s); else --ledger")
    common(p)
    p.add_argument("--run-id", help="which load run (default: the latest)")
    p.add_argument("--environment", help="only load runs of this environment (ledger)")
    p.add_argument(
        "--thresholds",
        type=parse_thresholds,
        help="burn rates to locate (default: 1 and the page factors)",
    )
    p.add_argument("--json", type=Path, help="also write the capacity report as JSON here")

    p = sub.add_parser("push", help="push ledger counters and probe results to a Pushgateway")
    p.add_argument("files", nargs="*", type=Path, help="results files to ingest first")
    common(p)
    p.add_argument("--gateway", required=True, help="Pushgateway base URL")
    p.add_argument("--job", default="spacetime_slo")
    p.add_argument("--now", type=parse_now, help=argparse.SUPPRESS)

    p = sub.add_parser(
        "notify",
        help="webhook or Alertmanager alerts (health monitor types) from the last probe run",
        description="Webhook or Alertmanager alerts (health monitor types) from the last "
        "probe run in a results file. Exit 0, 3 when a notice was not delivered, 2 on bad "
        "input.",
    )
    notify.add_arguments(p)

    p = sub.add_parser(
        "metrics",
        help="a probe run as metrics: GitLab metrics report, node_exporter textfile",
        description="A probe run as metrics, for two readers that do not scrape.",
    )
    runmetrics.add_arguments(p)
    return parser


# ----------------------------------------------------------------------------- commands


def load_spec(args: argparse.Namespace) -> Spec:
    spec = specs.from_path(args.spec)
    if getattr(args, "policy", None) is not None:
        spec = specs.with_policy(spec, specs.policy_from_path(args.policy))
    return spec


def _now(args: argparse.Namespace) -> float:
    """The only clock read: the shell's, once; the core gets ``now`` as an argument."""
    return args.now if getattr(args, "now", None) is not None else time.time()


def cmd_ingest(args: argparse.Namespace) -> int:
    from slo.sources import ingest_files
    from slo.store import Ledger

    spec = load_spec(args)
    with Ledger.open(args.ledger, create=True) as ledger:
        for result in ingest_files(ledger, args.files, spec.slos, _now(args)):
            print(f"slo: ingest: {result.summary()}")
    return 0


def report_from_args(
    args: argparse.Namespace, *, with_history: bool = False
) -> tuple[Report, History | None]:
    """Build the report from the chosen source; shared by ``report`` and ``gate``.

    With ``with_history`` (the gate) also what the ledger holds of the environment's probe
    runs, for the history rule; ``None`` from Prometheus, which keeps its own history.
    """
    spec = load_spec(args)
    now = _now(args)
    if args.source == "prometheus":
        from slo.sources import PrometheusSource

        if not args.prometheus_url:
            raise SloError(
                "(command line)", "--prometheus-url", "expected a URL with --source prometheus"
            )
        if not args.environment:
            raise SloError(
                "(command line)",
                "--environment",
                "expected an environment with --source prometheus",
            )
        with PrometheusSource(args.prometheus_url) as source:
            inputs = source.inputs(spec, args.environment, now)
            probes = source.probe_rows(args.environment, now)
        prometheus_report = build_report(
            slos=[s for s in spec.slos if s.applies_to(args.environment)],
            inputs=inputs,
            policy=spec.policy,
            now=now,
            environment=args.environment,
            source=f"Prometheus {args.prometheus_url}",
            spec_origin=spec.origin,
            probes=probes,
            notes=("counts come from PromQL increase(), which extrapolates at window edges",),
        )
        return prometheus_report, None
    from slo.sources import ledger_inputs, pick_environment
    from slo.store import Ledger, window_end

    now = float(window_end(now))  # judged to the second: the ledger counts per second
    with Ledger.open(args.ledger, create=False) as ledger:
        ledger.check_definitions(spec.slos, record=False)
        environment = pick_environment(ledger, args.environment)
        slos = [s for s in spec.slos if s.applies_to(environment)]
        longest = max((s.period_seconds for s in slos), default=0)
        left_out = [s.name for s in slos if not s.counts_source(environment, "load")]
        excluded = ledger.source_totals(left_out, environment, "load", now - longest, now)
        report = build_report(
            slos=slos,
            inputs=ledger_inputs(ledger, spec, environment, now),
            policy=spec.policy,
            now=now,
            environment=environment,
            source=f"ledger {args.ledger}",
            spec_origin=spec.origin,
            probes=ledger.probe_rows(environment, now - longest, now),
            excluded_load=excluded,
        )
        return report, (_ledger_history(ledger, report, now) if with_history else None)


def _ledger_history(ledger: Ledger, report: Report, now: float) -> History:
    """The environment's probe runs against what the gate needs of them (docs/slo.md)."""
    from slo.policy import gated_statuses, history_need

    gated = gated_statuses(report.overall, report.policy.gate)
    need = history_need(report.policy, max((s.slo.period_seconds for s in gated), default=0))
    since = now - need.span_seconds if need.span_seconds > 0 else 0.0
    runs = ledger.run_history(report.environment, since, now)
    return History(report.environment, need, tuple(runs), now)


def cmd_report(args: argparse.Namespace) -> int:
    report, _ = report_from_args(args)
    out: Path = args.out_dir
    markdown = render.to_markdown(report)
    written = []
    if "md" in args.format:
        write_atomic(out / "slo-report.md", markdown)
        written.append(out / "slo-report.md")
    if "json" in args.format:
        write_atomic(out / "slo-report.json", render.to_json(report))
        written.append(out / "slo-report.json")
    if "png" in args.format or "html" in args.format:
        from slo.charts import charts

        images = charts(report)
        if "png" in args.format:
            for name, data in images.items():
                write_atomic(out / f"slo-{name}.png", data)
                written.append(out / f"slo-{name}.png")
        if "html" in args.format:
            write_atomic(out / "slo-report.html", render.to_html(report, images))
            written.append(out / "slo-report.html")
    if not args.quiet:
        sys.stdout.write(markdown)
    print(f"slo: report: wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    from slo.policy import decide

    report, history = report_from_args(args, with_history=True)
    verdict = decide(report.statuses, report.policy.gate, report.environment, history=history)
    print(f"slo: {verdict.reason}")
    return verdict.exit_code


def cmd_rules(args: argparse.Namespace) -> int:
    from slo.rules import rules_yaml

    text, skipped = rules_yaml(load_spec(args))
    for note in skipped:
        print(f"slo: rules: {note}", file=sys.stderr)
    if args.out:
        write_atomic(args.out, text)
        print(f"slo: rules: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _capacity_rows_from_files(
    args: argparse.Namespace, spec: Spec
) -> tuple[str, dict[str, list[StepRow]], LoadCapacity]:
    """Each file read once (the one reader): the SLO rows and the capacity verdict."""
    from loadtests import capacity as load_capacity
    from slo.records import Aggregate
    from slo.runs import run_order
    from slo.sources import read_all

    runs: dict[str, list[Aggregate]] = {}
    every: list = []
    for path in args.files:
        records, skipped = read_all(path)
        every += records
        for record in records:
            if isinstance(record, Aggregate):
                runs.setdefault(record.header.run_id, []).append(record)
        if skipped is not None:
            print(f"slo: capacity: {skipped}", file=sys.stderr)
    if not runs:
        raise SloError(
            ", ".join(map(str, args.files)), "kind", "expected load aggregate records, found none"
        )
    # The latest load run that wrote aggregates, by the one rule (slo.runs), as
    # python -m loadtests.capacity picks it.
    ordered = [r for r in run_order(every, "load") if r in runs] or list(runs)
    run_id = args.run_id or ordered[-1]
    if run_id not in runs:
        raise SloError(
            ", ".join(map(str, args.files)),
            "--run-id",
            f"expected a load run in the file(s), no {run_id!r}",
        )
    rows = {slo.name: cap.rows_from_aggregates(runs[run_id], slo) for slo in spec.slos}
    return run_id, rows, load_capacity.build(runs[run_id], run_id=run_id)


def cmd_capacity(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    verdict = None
    if args.files:
        run_id, rows, verdict = _capacity_rows_from_files(args, spec)
    else:
        from slo.store import Ledger

        with Ledger.open(args.ledger, create=False) as ledger:
            runs = ledger.load_runs(args.environment)
            held = [] if runs or not args.environment else ledger.load_runs()
            if held:
                envs = sorted({run.environment for run in held})
                raise SloError(
                    str(args.ledger),
                    "--environment",
                    f"expected one of {', '.join(envs)} (the environments with load runs), "
                    f"got {args.environment!r}",
                )
            if not runs:
                raise SloError(
                    str(args.ledger), "runs", "expected an ingested load run, found none"
                )
            run_id = args.run_id or runs[0].run_id
            rows = ledger.load_steps(run_id)
            if args.run_id and not rows:
                raise SloError(
                    str(args.ledger), "--run-id", f"expected an ingested load run, no {run_id!r}"
                )
    reports = [
        cap.analyse(
            slo, rows.get(slo.name, []), args.thresholds or cap.default_thresholds(slo, spec.policy)
        )
        for slo in spec.slos
    ]
    if verdict is None:
        sys.stdout.write(cap.render_markdown(reports, f"load run {run_id}"))
    else:
        sys.stdout.write(verdict.markdown() + "\n" + cap.render_thresholds(reports))
    if args.json:
        import json

        body = {"run_id": run_id, "capacity": None if verdict is None else verdict.as_dict(),
                "slos": cap.to_json(reports)}  # fmt: skip
        write_atomic(args.json, json.dumps(body, indent=2) + "\n")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from slo.exposition import expose
    from slo.sources import ingest_files, push
    from slo.store import Ledger

    spec = load_spec(args)
    with Ledger.open(args.ledger, create=bool(args.files)) as ledger:
        if args.files:
            for result in ingest_files(ledger, args.files, spec.slos, _now(args)):
                print(f"slo: ingest: {result.summary()}")
        counters = ledger.cumulative()
        outcomes = ledger.last_outcomes()
        environments = sorted({c.environment for c in counters} | {o.environment for o in outcomes})
    bodies = {env: expose(env, counters, outcomes, spec.slos) for env in environments}
    if not bodies:
        raise SloError(
            str(args.ledger), "(ledger)", "expected ingested results to push, the ledger is empty"
        )
    for env in push(args.gateway, bodies, job=args.job):
        print(f"slo: push: {args.gateway}: job={args.job} environment={env}")
    return 0


COMMANDS = {
    "ingest": cmd_ingest,
    "report": cmd_report,
    "gate": cmd_gate,
    "rules": cmd_rules,
    "capacity": cmd_capacity,
    "push": cmd_push,
    # These two keep their arguments (add_arguments) and code (run) in their own module.
    "notify": notify.run,
    "metrics": runmetrics.run,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return COMMANDS[args.command](args)
    except SloError as exc:
        print(f"slo: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = exc.filename or "(io)"
        print(
            f"slo: error: {where}: (io): expected it to work ({exc.strerror or exc})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("slo: error: (signal): interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: still one line, traceback on demand
        if os.environ.get("SLO_DEBUG"):
            raise
        print(
            f"slo: error: (internal): {type(exc).__name__}: {exc} "
            "(SLO_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 2
