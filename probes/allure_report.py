"""Allure extras: failure categories, the probe's path in each failure, redacted exchanges.

Allure sorts failures with ``categories.json`` in the results directory, matching only
a result's status message and trace (Allure 2 has no rule on the test's name). So, at the
end of a run, :func:`finish_results` writes the categories and starts every failed or
broken result's trace with the probe's path (``probes/test_auth.py::...``), which is
what the family rules match; it also labels every result with its family
(``feature``), so Allure's Behaviors tab groups the probes by family.

Categories, in this order (a failure lands in exactly one):

* **Availability**: the target did not answer, answered 5xx, or timed out, whatever the
  family (a dead target fails every probe, and they all belong here); and the health
  families' failures;
* **Auth**, **Rate limiting**, **Latency**, **Traversal**, **Contract**: the family's
  failures that are not about availability;
* **Performance**, **Metrics**, **TLS**: the remaining families.

:func:`exchange_attachment` renders what a failing probe sent and got back, with the
run's secrets and anything token-shaped redacted, for ``allure.attach``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from probes.exchange import Exchange
from probes.redact import redact

ATTACHMENT_BODY_BYTES = 8 * 1024

# What an answer that is no answer looks like in a probe's failure line: the client's
# transport errors (probes/client.py) and a 5xx where something else was due.
_UNAVAILABLE = (
    r"no response \("
    r"|got 5[0-9][0-9]\b"
    r"|timeout: no complete response"
    r"|cannot connect"
    r"|connection broken"
    r"|protocol error"
)
UNAVAILABLE_REGEX = f"(?s)^.*(?:{_UNAVAILABLE}).*$"
AVAILABLE_REGEX = f"(?s)^(?!.*(?:{_UNAVAILABLE})).*$"

# (category name, families whose non-availability failures it takes)
FAMILY_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Availability", ("health", "health_api")),
    ("Auth", ("auth",)),
    ("Rate limiting", ("rate_limit",)),
    ("Latency", ("latency",)),
    ("Traversal", ("traversal",)),
    ("Contract", ("contract",)),
    ("Performance", ("performance",)),
    ("Metrics", ("metrics",)),
    ("TLS", ("tls",)),
)
FAILED = ["failed", "broken"]


def trace_regex(families: Iterable[str]) -> str:
    names = "|".join(re.escape(f) for f in families)
    return f"(?s)^probes/test_(?:{names})\\.py::.*$"


def categories() -> list[dict[str, Any]]:
    """The ``categories.json`` document; the first entry is matched by message alone."""
    out: list[dict[str, Any]] = [
        {
            "name": "Availability",
            "description": "no answer, a 5xx or a timeout, whatever the probe's family",
            "matchedStatuses": FAILED,
            "messageRegex": UNAVAILABLE_REGEX,
        }
    ]
    for name, families in FAMILY_CATEGORIES:
        out.append(
            {
                "name": name,
                "description": f"failures of the {', '.join(families)} probes",
                "matchedStatuses": FAILED,
                "messageRegex": AVAILABLE_REGEX,
                "traceRegex": trace_regex(families),
            }
        )
    return out


def category_of(family: str, message: str) -> str | None:
    """The category Allure will give a failure: the same rules, in Python (for tests)."""
    for entry in categories():
        if "traceRegex" in entry and not re.match(
            entry["traceRegex"], f"probes/test_{family}.py::x"
        ):
            continue
        if re.match(entry["messageRegex"], message):
            return str(entry["name"])
    return None


def probe_path(full_name: str, name: str) -> str:
    """``probes.test_auth#test_x`` + ``test_x[GET]`` -> ``probes/test_auth.py::test_x[GET]``."""
    module = full_name.split("#", 1)[0]
    return f"{module.replace('.', '/')}.py::{name}"


def family_of(full_name: str) -> str | None:
    module = full_name.split("#", 1)[0].rsplit(".", 1)[-1]
    return module.removeprefix("test_") if module.startswith("test_") else None


def tag_result(result: dict[str, Any]) -> bool:
    """Family label on every probe result, the probe's path on a failure's trace.

    Idempotent; returns True when the result changed.
    """
    full_name = str(result.get("fullName") or "")
    family = family_of(full_name)
    if family is None or not full_name.startswith("probes."):
        return False
    changed = False
    labels = result.setdefault("labels", [])
    if not any(label.get("name") == "feature" for label in labels):
        labels.append({"name": "feature", "value": family})
        changed = True
    if result.get("status") in FAILED:
        details = result.setdefault("statusDetails", {})
        path = probe_path(full_name, str(result.get("name") or ""))
        trace = str(details.get("trace") or "")
        if not trace.startswith(path):
            details["trace"] = f"{path}\n{trace}" if trace else path
            changed = True
    return changed


def _write_json(path: Path, value: Any) -> None:
    """Temporary file and rename: Allure never reads half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(value, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _results(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.glob("*-result.json")):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(value, dict):
            yield path, value


def finish_results(directory: str | Path) -> str | None:
    """Write ``categories.json`` and tag the results; returns a problem line, or None."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_json(directory / "categories.json", categories())
        for path, result in _results(directory):
            if tag_result(result):
                _write_json(path, result)
    except OSError as exc:
        return f"allure results not finished in {directory}: {exc.strerror or exc}"
    return None


def exchange_attachment(exchange: Exchange, secrets: tuple[str, ...] = ()) -> str:
    """What was sent and what came back, as text, credentials redacted."""
    lines = [f"{exchange.method} {exchange.url}"]
    for name, value in exchange.request_headers.items():
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} <redacted>".strip()
        lines.append(f"{name}: {value}")
    if exchange.request_body is not None:
        lines += ["", _body(exchange.request_body)]
    lines.append("")
    if exchange.status is None:
        lines.append(f"--- no response: {exchange.error} ---")
    else:
        lines.append(f"--- response: {exchange.status} in {exchange.latency_ms or 0:.1f} ms ---")
        lines += [f"{name}: {value}" for name, value in exchange.headers.items()]
        lines += ["", _body(exchange.body)]
        if exchange.truncated:
            lines.append("(body truncated by the client)")
    lines += ["", f"reproduce: {exchange.curl(secrets)}"]
    return redact("\n".join(lines), secrets)


def _body(data: bytes) -> str:
    text = data[:ATTACHMENT_BODY_BYTES].decode("utf-8", errors="replace")
    if len(data) > ATTACHMENT_BODY_BYTES:
        text += f"\n... ({len(data) - ATTACHMENT_BODY_BYTES} more bytes)"
    return text
