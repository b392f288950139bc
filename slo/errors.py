"""The one error type the CLI turns into a single ``slo: error: ...`` line.

Every bad input (spec, results file, ledger, output path) is reported as the file it came
from, the field inside it and what was expected there, so a CI log line is enough to fix it.
"""

from __future__ import annotations


class SloError(Exception):
    """A user-facing error: ``<file>: <field>: <expected>``, never a traceback."""

    def __init__(self, file: str, field: str, expected: str) -> None:
        self.file = file
        self.field = field
        self.expected = expected
        super().__init__(f"{file}: {field}: {expected}")

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.expected}"
