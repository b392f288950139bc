"""Atomic output files: a report is either the old one or the new one, never half of each."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from slo.errors import SloError


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
