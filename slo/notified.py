"""Alert state across scheduled runs, kept in the SLO ledger's SQLite file.

One row per environment and alert type: whether the condition held at the last
evaluation, the last notice delivered (``firing`` or ``resolved``) and when the last
firing notice went out. That is what "at most one alert per type per 5 minutes, across
runs" and "a resolved notice when a type clears" need, and it travels with the ledger
from one scheduled pipeline to the next.

The table is this module's own (``CREATE TABLE IF NOT EXISTS``, outside the ledger's
``PRAGMA user_version`` migrations): the file is opened through :class:`slo.store.Ledger`
first, so a foreign or corrupt file is refused exactly as ``slo`` refuses it, and the
ledger's schema is created when the file is new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from slo.errors import SloError
from slo.store import Ledger

TABLE = "notify_alert_state"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE}(
    environment TEXT NOT NULL,
    alert_type TEXT NOT NULL,
    firing INTEGER NOT NULL,
    notified TEXT,
    last_sent REAL,
    since REAL,
    summary TEXT,
    updated REAL NOT NULL,
    PRIMARY KEY(environment, alert_type))
"""


@dataclass(frozen=True)
class NotifiedAlert:
    """What the last evaluation left behind for one alert type."""

    alert_type: str
    firing: bool = False
    notified: str | None = None  # the last notice delivered: "firing" or "resolved"
    last_sent: float | None = None  # when the last firing notice was delivered
    since: float | None = None  # when the condition began (the current episode)
    summary: str | None = None


class AlertStore:
    """The alert-state table in an SLO ledger; use as a context manager."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.path = ledger.path

    @classmethod
    def open(cls, path: Path | str) -> AlertStore:
        ledger = Ledger.open(path, create=True)
        store = cls(ledger)
        try:
            with ledger.transaction() as conn:
                conn.execute(_SCHEMA)
        except BaseException:
            ledger.close()
            raise
        return store

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, environment: str) -> dict[str, NotifiedAlert]:
        try:
            rows = self.ledger.conn.execute(
                f"SELECT alert_type, firing, notified, last_sent, since, summary FROM {TABLE} "
                "WHERE environment = ?",
                (environment,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise SloError(str(self.path), TABLE, f"expected a readable table ({exc})") from None
        return {
            row[0]: NotifiedAlert(row[0], bool(row[1]), row[2], row[3], row[4], row[5])
            for row in rows
        }

    def save(self, environment: str, states: Iterable[NotifiedAlert], now: float) -> None:
        """Write the states in one transaction."""
        try:
            with self.ledger.transaction() as conn:
                conn.executemany(
                    f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(environment, alert_type) DO UPDATE SET "
                    "firing = excluded.firing, notified = excluded.notified, "
                    "last_sent = excluded.last_sent, since = excluded.since, "
                    "summary = excluded.summary, updated = excluded.updated",
                    [
                        (
                            environment,
                            s.alert_type,
                            int(s.firing),
                            s.notified,
                            s.last_sent,
                            s.since,
                            s.summary,
                            now,
                        )
                        for s in states
                    ],
                )
        except sqlite3.Error as exc:
            raise SloError(str(self.path), TABLE, f"expected a writable table ({exc})") from None
