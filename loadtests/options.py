"""The `--st-*` command-line options of the load profiles (Locust owns `--host`).

Some are also fields of the web UI's start form (`FORM`): what a test run
may vary from one start to the next (shape, time and think scale, read-only,
thresholds), applied at each start (`plugin._apply_form`). Kept out of the
form: what decides where the run may go or what it reads and writes (profile,
environment, production flag, token file, manager URL, results and summary
paths, stage file), since the form is open to whoever reaches the web port: a
token-file field would let it send any readable file as a Bearer header to
any host. The JWT itself is never a value anywhere, so never shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import events

from loadtests.settings import ENVIRONMENTS, SettingsError
from loadtests.stages import SHAPE_NAMES

# dest -> how the form's text becomes the option's value (Locust leaves a None default's text)
FORM: dict[str, Callable[[str], Any]] = {}


def form_values(options: Any) -> dict[str, Any]:
    """Turn the start form's strings back into typed values on `options`; return them.

    Raises SettingsError naming the field when a value does not parse.
    """
    values = {}
    for dest, convert in FORM.items():
        value = getattr(options, dest, None)
        if isinstance(value, str):
            text = value.strip()
            try:
                value = convert(text) if text else None
            except ValueError:
                flag = "--" + dest.replace("_", "-")
                raise SettingsError(f"{flag}: expected a number, got {text!r}") from None
            setattr(options, dest, value)
        values[dest] = value
    return values


@events.init_command_line_parser.add_listener
def add_options(parser: Any, **_kwargs: Any) -> None:
    """The `--st-*` options; `web=True` ones are start-form fields too."""

    def option(*names: str, web: bool = False, **kwargs: Any) -> None:
        kwargs["include_in_web_ui"] = web
        action = parser.add_argument(*names, **kwargs)
        if web and action.type is not None:
            FORM[action.dest] = action.type
        elif web:
            FORM[action.dest] = str if action.const is None else _flag

    option(
        "--st-profile",
        help="target profile: the probes' YAML, or a built-in name (target, environment, SLA...)",
    )
    option(
        "--st-environment",
        choices=ENVIRONMENTS,
        help="environment when no profile names it",
    )
    option("--st-shape", web=True, help=f"stage table to run: {', '.join(SHAPE_NAMES)}")
    option("--st-stages", help="YAML file of stage tables (default: built-in)")
    option("--st-time-scale", web=True, type=float, help="multiply every stage duration")
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
    option("--st-sla-ms", web=True, type=float, help="latency threshold (default: profile, 200)")
    option("--st-sla-percentile", web=True, type=float, help="percentile judged (default 95)")
    option("--st-max-error-ratio", web=True, type=float, help="default 0.01")
    option("--st-max-429-ratio", web=True, type=float, help="default 0.05")
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
        web=True,
        type=float,
        help="multiply every pause between requests (0: back to back)",
    )
    option(
        "--st-read-only",
        web=True,
        action="store_true",
        default=False,
        help="operators never POST (no scene loads or reloads)",
    )
    option(
        "--st-stats-table",
        action="store_true",
        default=False,
        help="headless: print Locust's stats table every 2 s (default: a line per stage)",
    )
    option(
        "--st-allow-production",
        action="store_true",
        default=False,
        help="allow a target whose profile says production",
    )


def _flag(text: str) -> bool:
    return text.lower() in ("true", "1", "on", "yes")
