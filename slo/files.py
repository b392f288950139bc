"""Files in and out: the one reader of JSON-lines results as plain dicts, and atomic
output files (a report is either the old one or the new one, never half of each)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from slo.errors import SloError


def open_results(path: Path) -> BinaryIO:
    """A results file opened for reading; each way it cannot be is one ``SloError`` line
    (missing, a directory, unreadable), the same for every reader."""
    try:
        return open(path, "rb")  # the caller closes it
    except FileNotFoundError:
        raise SloError(str(path), "(file)", "expected an existing results file") from None
    except IsADirectoryError:
        raise SloError(str(path), "(file)", "expected a results file, got a directory") from None
    except OSError as exc:
        raise SloError(str(path), "(file)", f"expected a readable file ({exc.strerror})") from None


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON object of a results file, for readers that want the raw records
    (notices, GitLab metrics) rather than the typed ones (``slo.sources.read_all``).

    A line that does not parse (a killed run's last line) or is not an object is
    skipped: the SLO ingest (``slo.sources.read_results``) is where such lines are
    counted. A missing, directory or unreadable file is one ``SloError`` line.
    """
    path = Path(path)
    with open_results(path) as handle:
        try:
            text = handle.read().decode("utf-8", errors="replace")
        except OSError as exc:
            raise SloError(
                str(path), "(file)", f"expected a readable file ({exc.strerror})"
            ) from None
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write to a temporary file beside ``path``, fsync, then rename over it.

    Any ``OSError`` (unwritable directory, full disk) becomes one ``SloError`` line and
    the temporary file is removed.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise SloError(
            str(path), "(write)", f"expected a writable output file ({exc.strerror or exc})"
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
