"""The `--st-*` command-line options of the load profiles (Locust owns `--host`)."""

from __future__ import annotations

from typing import Any

from locust import events

from loadtests.settings import ENVIRONMENTS
from loadtests.stages import SHAPE_NAMES


@events.init_command_line_parser.add_listener
def add_options(parser: Any, **_kwargs: Any) -> None:
    """The `--st-*` options. They are read once when Locust starts, so none is offered
    in the web UI's start form, where changing it would silently have no effect."""

    def option(*names: str, **kwargs: Any) -> None:
        kwargs.setdefault("include_in_web_ui", False)
        parser.add_argument(*names, **kwargs)

    option(
        "--st-profile",
        help="target profile: the probes' YAML, or a built-in name (target, environment, SLA...)",
    )
    option(
        "--st-environment",
        choices=ENVIRONMENTS,
        help="environment when no profile names it",
    )
    option("--st-shape", help=f"stage table to run: {', '.join(SHAPE_NAMES)}")
    option("--st-stages", help="YAML file of stage tables (default: built-in)")
    option("--st-time-scale", type=float, help="multiply every stage duration")
    option(
        "--st-open-rate",
        type=float,
        help="open model: constant arrival rate, requests/s over all processes",
    )
    option(
        "--st-open-connections",
        type=int,
        default=50,
        help="open model: connections (requests in flight) over all processes",
    )
    option(
        "--st-open-users",
        type=int,
        help="open model: dispatchers sharing the rate (default one per process)",
    )
    option(
        "--st-open-late-ms",
        type=float,
        default=10.0,
        help="open model: a request leaving later than this after its due time is late",
    )
    option(
        "--st-open-drop-s",
        type=float,
        default=10.0,
        help="open model: a request that cannot leave within this is dropped",
    )
    option("--st-sla-ms", type=float, help="latency threshold (default: profile, 200)")
    option("--st-sla-percentile", type=float, help="percentile judged (default 95)")
    option("--st-max-error-ratio", type=float, help="default 0.01")
    option("--st-max-429-ratio", type=float, help="default 0.05")
    option("--st-max-dropped-ratio", type=float, help="open model, default 0.01")
    option("--st-results", help="results JSONL (default reports/load-results.jsonl)")
    option("--st-summary", help="also write a JSON summary of the run here")
    option("--st-bucket-s", type=float, help="aggregate bucket width (default 10 s)")
    option(
        "--st-token-file",
        help="file holding the JWT (default: profile, jwt_token.txt)",
    )
    option("--st-manager-url", help="process manager base URL (default: profile)")
    option(
        "--st-think-scale",
        type=float,
        help="multiply every pause between requests (0: back to back)",
    )
    option(
        "--st-read-only",
        action="store_true",
        default=False,
        help="operators never POST (no scene loads or reloads)",
    )
    option(
        "--st-allow-production",
        action="store_true",
        default=False,
        help="allow a target whose profile says production",
    )
