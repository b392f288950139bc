"""The SQLite ledger: good/total event counts per SLO, endpoint, environment, source, second.

Why SQLite: scheduled CI jobs ingest one results file at a time and the ledger must carry
28 days across them; one file, WAL for concurrent readers, a transaction per ingest, and
``PRAGMA user_version`` for the schema version (``application_id`` tells our file from a
foreign SQLite database).

Idempotency: each run's ingested ``seq`` numbers are kept as intervals per *scope* (one
scope per SLO, ``*`` for outcomes and run metadata). Re-ingesting a file counts nothing
twice; a file that grew (the run went on) adds only its new lines; an SLO added to the
spec later can be back-filled by ingesting the old files again.

Resolution: events are counted per second (with an hourly roll-up), and every probe
outcome is kept with its timestamp, so a window ends exactly at ``now`` (to the second)
and a replay (``--now`` in the past) sees each probe as it stood then. Schema 1 counted
per minute and kept only each probe's newest outcome; what it counted stays as it was.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slo import records as rec
from slo import seqset
from slo.errors import SloError
from slo.fold import HOUR, EventKey, Events, Fold, hourly
from slo.model import (
    BUCKET_SECONDS,
    Counts,
    EventTotal,
    LastOutcome,
    LoadRun,
    ProbeRow,
    RunHistory,
    Slo,
    StepRow,
)

APPLICATION_ID = 0x534C4F31  # "SLO1"
SCHEMA_VERSION = 2
LEDGER_BUCKET_SECONDS = 1
FLUSH_ROWS = 50_000  # counts and outcomes held before they are written (same transaction)
"""What one row of ``events`` covers (schema 1: 60). Windows are still whole minutes long."""


def window_end(now: float) -> int:
    """The end of every window judged at ``now``: ``now`` itself, to the second.

    Windows are ``[end - w, end)``. A fractional ``now`` ends at the second before it:
    per-second counts cannot tell the events of that second before ``now`` from those
    after, and an event after ``now`` must never count.
    """
    return math.floor(now)


MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE slo_definitions(slo TEXT PRIMARY KEY, definition TEXT NOT NULL);
    CREATE TABLE runs(
        run_id TEXT PRIMARY KEY, source TEXT NOT NULL, environment TEXT NOT NULL,
        target TEXT, profile TEXT, git_commit TEXT, started REAL, ended REAL,
        exit_status INTEGER, first_ts REAL, last_ts REAL, ingested_at REAL);
    CREATE TABLE run_seqs(
        run_id TEXT NOT NULL, scope TEXT NOT NULL, seqs TEXT NOT NULL,
        PRIMARY KEY(run_id, scope)) WITHOUT ROWID;
    CREATE TABLE events(
        slo TEXT NOT NULL, environment TEXT NOT NULL, source TEXT NOT NULL,
        bucket INTEGER NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL,
        good REAL NOT NULL, total REAL NOT NULL,
        PRIMARY KEY(slo, environment, source, bucket, method, endpoint)) WITHOUT ROWID;
    CREATE TABLE events_hourly(
        slo TEXT NOT NULL, environment TEXT NOT NULL, source TEXT NOT NULL,
        bucket INTEGER NOT NULL, method TEXT NOT NULL, endpoint TEXT NOT NULL,
        good REAL NOT NULL, total REAL NOT NULL,
        PRIMARY KEY(slo, environment, source, bucket, method, endpoint)) WITHOUT ROWID;
    CREATE TABLE probe_outcomes(
        environment TEXT NOT NULL, probe TEXT NOT NULL, bucket INTEGER NOT NULL,
        family TEXT NOT NULL, endpoint TEXT, method TEXT,
        passed INTEGER NOT NULL, failed INTEGER NOT NULL, skipped INTEGER NOT NULL,
        error INTEGER NOT NULL, duration_s REAL NOT NULL,
        PRIMARY KEY(environment, bucket, probe)) WITHOUT ROWID;
    CREATE TABLE probe_last(
        environment TEXT NOT NULL, probe TEXT NOT NULL, ts REAL NOT NULL, run_id TEXT,
        target TEXT, family TEXT, endpoint TEXT, method TEXT, outcome TEXT, reason TEXT,
        duration_s REAL, PRIMARY KEY(environment, probe));
    CREATE TABLE load_steps(
        run_id TEXT NOT NULL, environment TEXT NOT NULL, slo TEXT NOT NULL,
        stage_index INTEGER NOT NULL, users REAL, rate_per_s REAL,
        good REAL NOT NULL, total REAL NOT NULL, first_ts REAL NOT NULL, last_ts REAL NOT NULL,
        PRIMARY KEY(run_id, slo, stage_index)) WITHOUT ROWID;
    """,
    # version 2: every probe outcome with its timestamp (probe_last only holds the newest,
    # which a replay at an earlier --now cannot use); events per second from now on.
    """
    CREATE TABLE probe_ids(
        id INTEGER PRIMARY KEY, environment TEXT NOT NULL, probe TEXT NOT NULL,
        UNIQUE(environment, probe));
    CREATE TABLE probe_history(
        probe_id INTEGER NOT NULL, ts REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT,
        PRIMARY KEY(probe_id, ts)) WITHOUT ROWID;
    INSERT INTO probe_ids(environment, probe) SELECT environment, probe FROM probe_last;
    INSERT INTO probe_history SELECT i.id, l.ts, l.outcome, l.reason
        FROM probe_last l JOIN probe_ids i USING (environment, probe);
    """,
)


@dataclass
class IngestResult:
    """What one ingest did, for the one summary line per file."""

    path: str
    lines: int = 0
    records: int = 0
    new_records: int = 0
    duplicates: int = 0
    garbage: int = 0
    truncated: int = 0
    runs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [
            f"{self.path}: {self.records} records from {len(self.runs)} run(s)",
            f"{self.new_records} new",
            f"{self.duplicates} already counted",
        ]
        skipped = self.skipped()
        return ", ".join(parts + ([skipped] if skipped else []))

    def skipped(self) -> str | None:
        """What reading the file left out, for readers that only read (slo capacity)."""
        parts = []
        if self.garbage:
            first = f" (first: {self.problems[0]})" if self.problems else ""
            parts.append(f"{self.garbage} bad line(s) skipped{first}")
        if self.truncated:
            parts.append("truncated last line skipped")
        return ", ".join(parts) or None


class _Seen:
    """Seqs of one run and scope: what the ledger had, plus what this ingest adds."""

    __slots__ = ("added", "changed", "existing", "top")

    def __init__(self, existing: seqset.Intervals) -> None:
        self.existing = existing
        self.added: list[list[int]] = []
        self.top = -1
        self.changed = False

    def check_and_mark(self, seq: int) -> bool:
        """True when ``seq`` is new (and marks it); False when it was counted before."""
        if seqset.contains(self.existing, seq):
            return False
        if seq > self.top:
            if self.added and seq == self.added[-1][1] + 1:
                self.added[-1][1] = seq
            else:
                self.added.append([seq, seq])
            self.top = seq
        else:
            merged = seqset.normalise((lo, hi) for lo, hi in self.added)
            if seqset.contains(merged, seq):
                return False
            self.added = [[lo, hi] for lo, hi in seqset.add(merged, [seq])]
        self.changed = True
        return True

    def intervals(self) -> seqset.Intervals:
        return seqset.normalise([*self.existing, *((lo, hi) for lo, hi in self.added)])


SQLITE_MAGIC = b"SQLite format 3\x00"


def _ledger_error(path: Path, exc: BaseException) -> SloError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return SloError(str(path), "(ledger)", "expected an SQLite SLO ledger, the file is corrupt")
    return SloError(str(path), "(ledger)", f"expected a usable SQLite ledger ({text})")


def _check_file(path: Path) -> None:
    """What can be told before SQLite opens the file, told in words SQLite does not use.

    A zero-length file is what SQLite itself creates on connect, so it is a new ledger
    (another ``slo ingest`` may be creating it right now); anything else must start with
    the SQLite header.
    """
    if path.is_dir():
        raise SloError(str(path), "(ledger)", "expected an SQLite SLO ledger, found a directory")
    if path.exists() and not path.is_file():  # a FIFO would block the read below
        raise SloError(
            str(path), "(ledger)", "expected an SQLite SLO ledger, found no regular file"
        )
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SloError(
            str(path), "(ledger)", f"expected a readable SQLite SLO ledger ({exc.strerror})"
        ) from None
    if head and head != SQLITE_MAGIC:
        raise SloError(
            str(path),
            "(ledger)",
            "expected an SQLite SLO ledger, the file is corrupt (no SQLite header)",
        )


class Ledger:
    """An open ledger. Use :meth:`open` and close it (or use it as a context manager)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: Path | str, *, create: bool) -> Ledger:
        """Open (or, with ``create``, make) a ledger; a foreign or corrupt file is an error."""
        path = Path(path)
        try:
            if not create and not path.exists():
                raise SloError(
                    str(path),
                    "(ledger)",
                    "expected an existing SLO ledger (run `slo ingest` first)",
                )
            _check_file(path)
        except OSError as exc:  # a directory on the way that may not be searched
            raise SloError(
                str(path), "(ledger)", f"expected a readable SQLite SLO ledger ({exc.strerror})"
            ) from None
        if create and not path.parent.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise SloError(
                    str(path.parent),
                    "(directory)",
                    f"expected a writable directory ({exc.strerror})",
                ) from None
        try:
            conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise _ledger_error(path, exc) from None
        ledger = cls(path, conn)
        try:
            ledger._prepare(create)
        except sqlite3.Error as exc:
            conn.close()
            raise _ledger_error(path, exc) from None
        except SloError:
            conn.close()
            raise
        return ledger

    def _prepare(self, create: bool) -> None:
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 30000")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if app_id != APPLICATION_ID:
            if tables or not create:
                found = f"tables {', '.join(sorted(tables)[:4])}" if tables else "an empty database"
                raise SloError(
                    str(self.path),
                    "(ledger)",
                    f"expected a spacetime-probes SLO ledger, found {found}",
                )
        elif version > SCHEMA_VERSION:
            raise SloError(
                str(self.path),
                "user_version",
                f"expected schema version <= {SCHEMA_VERSION} (this slo is older than the "
                f"ledger's {version})",
            )
        elif create:
            self._quick_check()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate(version)

    def _quick_check(self) -> None:
        """Refuse to write into a damaged ledger (0.1-0.4 s on a 28-day, 20 MB one).

        Reports and the gate read only what they need, and SQLite reports a damaged page
        they touch; an ingest would otherwise add counts to a file that is already lost.
        """
        verdict = self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if verdict != "ok":
            verdict = " ".join(verdict.replace("*** in database main ***", "").split())[:200]
            raise SloError(
                str(self.path),
                "(ledger)",
                f"expected an intact SQLite SLO ledger, quick_check says: {verdict}",
            )

    def _migrate(self, version: int) -> None:
        """Apply the migrations after the file's version, all in one transaction.

        The version is read again once the write lock is held: two ingests creating the
        same new ledger at once must not both run the migrations.
        """
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('bucket_seconds', ?), ('created_by', ?)",
                    (str(LEDGER_BUCKET_SECONDS), "spacetime-probes slo"),
                )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: concurrent ingests queue instead of failing half-way."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _ledger_error(self.path, exc) from None
        try:
            yield self.conn
        except BaseException:
            # SQLite may have rolled back already (a full disk, a corrupt page): the
            # error that matters is the one being raised, not "no transaction is active".
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise _ledger_error(self.path, exc) from None

    # ------------------------------------------------------------------ ingest

    def check_definitions(self, slos: Sequence[Slo], *, record: bool) -> None:
        """An SLO's counts are only meaningful under the definition they were counted with."""
        known = dict(self._query("SELECT slo, definition FROM slo_definitions"))
        for slo in slos:
            old = known.get(slo.name)
            if old is not None and old != slo.definition:
                raise SloError(
                    str(self.path),
                    f"slo {slo.name}",
                    f"expected definition {old!r} as counted in the ledger, the spec says "
                    f"{slo.definition!r} (use a new ledger or rename the SLO)",
                )
            if old is None and record:
                self.conn.execute(
                    "INSERT INTO slo_definitions VALUES (?, ?)", (slo.name, slo.definition)
                )

    def ingest(
        self, records: Iterable[rec.Record], slos: Sequence[Slo], result: IngestResult, now: float
    ) -> IngestResult:
        """Count ``records`` into the ledger in one transaction; returns ``result`` updated.

        Every SLO's events are counted for every environment and source: scoping (and the
        rule that load never counts against production) is applied when reading, so the
        capacity report can use the same counts.
        """
        try:
            with self.transaction() as conn:
                self.check_definitions(slos, record=True)
                self._ingest(conn, records, slos, result, now)
        except sqlite3.Error as exc:
            raise _ledger_error(self.path, exc) from None
        return result

    def _ingest(
        self,
        conn: sqlite3.Connection,
        records: Iterable[rec.Record],
        slos: Sequence[Slo],
        result: IngestResult,
        now: float,
    ) -> None:
        """The fold (``slo.fold``) counts; this reads the seqs already ingested and
        writes what the fold counted."""
        seen: dict[tuple[str, str], _Seen] = {}

        def is_new(run_id: str, scope: str, seq: int) -> bool:
            key = (run_id, scope)
            item = seen.get(key)
            if item is None:
                row = conn.execute(
                    "SELECT seqs FROM run_seqs WHERE run_id = ? AND scope = ?", key
                ).fetchone()
                item = seen[key] = _Seen(seqset.decode(row[0]) if row else ())
            return item.check_and_mark(seq)

        tally = Fold()
        for record in records:
            result.records += 1
            result.runs.add(record.header.run_id)
            added = tally.add(record, slos, is_new)
            for problem in added.problems:
                result.garbage += 1
                if len(result.problems) < 3:
                    result.problems.append(problem)
            if added.fresh:
                result.new_records += 1
            else:
                result.duplicates += 1
            if len(tally.events) >= FLUSH_ROWS:  # per-second keys: bound memory on a big file
                self._write_events(conn, tally.take_events())
            if len(tally.history) >= FLUSH_ROWS:
                self._write_history(conn, tally.take_history())

        self._write_events(conn, tally.take_events())
        self._write_history(conn, tally.take_history())
        conn.executemany(
            "INSERT INTO probe_outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(environment, bucket, probe) DO UPDATE SET "
            "passed = passed + excluded.passed, failed = failed + excluded.failed, "
            "skipped = skipped + excluded.skipped, error = error + excluded.error, "
            "duration_s = duration_s + excluded.duration_s, family = excluded.family, "
            "endpoint = excluded.endpoint, method = excluded.method",
            (
                (key.environment, key.probe, key.hour, t.family, t.endpoint, t.method,
                 t.passed, t.failed, t.skipped, t.error, t.duration_s)
                for key, t in tally.outcomes.items()
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO probe_last VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(environment, probe) DO UPDATE SET ts = excluded.ts, "
            "run_id = excluded.run_id, target = excluded.target, family = excluded.family, "
            "endpoint = excluded.endpoint, method = excluded.method, "
            "outcome = excluded.outcome, reason = excluded.reason, "
            "duration_s = excluded.duration_s WHERE excluded.ts >= probe_last.ts",
            (
                (env, probe, o.ts, o.header.run_id, o.header.target, o.family, o.endpoint,
                 o.method, o.outcome, o.reason, o.duration_s)
                for (env, probe), o in tally.last.items()
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO load_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(run_id, slo, stage_index) DO UPDATE SET "
            "good = good + excluded.good, total = total + excluded.total, "
            "users = coalesce(excluded.users, users), "
            "rate_per_s = coalesce(excluded.rate_per_s, rate_per_s), "
            "first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)",
            (
                (*key, t.users, t.rate_per_s, t.good, t.total, t.first_ts, t.last_ts)
                for key, t in tally.steps.items()
            ),
        )
        conn.executemany(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET "
            "profile = coalesce(excluded.profile, profile), "
            "git_commit = coalesce(excluded.git_commit, git_commit), "
            "started = coalesce(excluded.started, started), "
            "ended = coalesce(excluded.ended, ended), "
            "exit_status = coalesce(excluded.exit_status, exit_status), "
            "first_ts = min(coalesce(first_ts, excluded.first_ts), "
            "coalesce(excluded.first_ts, first_ts)), "
            "last_ts = max(coalesce(last_ts, excluded.last_ts), "
            "coalesce(excluded.last_ts, last_ts)), ingested_at = excluded.ingested_at",
            (
                (run_id, r.source, r.environment, r.target, r.profile, r.commit, r.started,
                 r.ended, r.exit_status, *(tally.spans.get(run_id) or (None, None)), now)
                for run_id, r in tally.runs.items()
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO run_seqs VALUES (?, ?, ?) ON CONFLICT(run_id, scope) "
            "DO UPDATE SET seqs = excluded.seqs",
            (
                (run_id, scope, seqset.encode(item.intervals()))
                for (run_id, scope), item in seen.items()
                if item.changed
            ),
        )

    @staticmethod
    def _write_events(conn: sqlite3.Connection, events: dict[EventKey, Events]) -> None:
        """Add per-second counts and their hourly roll-up (upserts: flushing twice adds)."""
        for table, rows in (("events", events), ("events_hourly", hourly(events))):
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(slo, environment, source, bucket, method, endpoint) DO UPDATE SET "
                "good = good + excluded.good, total = total + excluded.total",
                ((*k, v.good, v.total) for k, v in rows.items()),
            )

    @staticmethod
    def _write_history(conn: sqlite3.Connection, history: list[rec.Outcome]) -> None:
        """Every outcome with its timestamp; a tie (same probe and ts) goes to the later
        record, as in ``probe_last``."""
        conn.executemany(
            "INSERT OR IGNORE INTO probe_ids(environment, probe) VALUES (?, ?)",
            sorted({(o.header.environment, o.probe) for o in history}),
        )
        conn.executemany(
            "INSERT INTO probe_history SELECT id, ?, ?, ? FROM probe_ids "
            "WHERE environment = ? AND probe = ? "
            "ON CONFLICT(probe_id, ts) DO UPDATE SET "
            "outcome = excluded.outcome, reason = excluded.reason",
            ((o.ts, o.outcome, o.reason, o.header.environment, o.probe) for o in history),
        )

    # ------------------------------------------------------------------ queries

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _ledger_error(self.path, exc) from None

    def environments(self) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT environment FROM runs UNION SELECT DISTINCT environment FROM events"
        )
        return sorted(r[0] for r in rows)

    def slo_rows(
        self,
        slo: str,
        environment: str,
        sources: Sequence[str],
        since: float,
        until: float,
        step: int = BUCKET_SECONDS,
    ) -> dict[str, list[tuple[int, float, float]]]:
        """Per endpoint (``"GET /scene"``), ``(start, good, total)`` in ``[since, until)``.

        ``step`` (a multiple of the bucket) groups buckets on epoch-aligned boundaries,
        which is what Timeslices budgeting needs.
        """
        out: dict[str, list[tuple[int, float, float]]] = {}
        rows = self._grouped(
            "events", slo, environment, sources, math.floor(since), math.floor(until), step
        )
        for method, endpoint, start, good, total in rows:
            out.setdefault(f"{method} {endpoint}", []).append((start, good, total))
        return out

    def _grouped(
        self,
        table: str,
        slo: str,
        environment: str,
        sources: Sequence[str],
        lo: int,
        hi: int,
        step: int,
    ) -> list[tuple]:
        """``(method, endpoint, start, good, total)`` per epoch-aligned ``step`` in
        ``[lo, hi)`` of ``table`` (``events`` per second, ``events_hourly`` per hour)."""
        return self._query(
            f"SELECT method, endpoint, bucket / ? * ? AS start, sum(good), sum(total) "
            f"FROM {table} WHERE slo = ? AND environment = ? AND source IN ({_marks(sources)}) "
            "AND bucket >= ? AND bucket < ? GROUP BY method, endpoint, start",
            (step, step, slo, environment, *sources, lo, hi),
        )

    def _sum_ranges(
        self, table: str, slo: str, environment: str, sources: Sequence[str], ranges
    ) -> dict[tuple[int, int], dict[str, list[float]]]:
        """Per ``[lo, hi)`` range and endpoint: ``[good, total]`` from ``table``."""
        out: dict[tuple[int, int], dict[str, list[float]]] = {}
        for lo, hi in ranges:
            acc = out.setdefault((lo, hi), {})
            if hi <= lo:
                continue
            for method, endpoint, good, total in self._query(
                f"SELECT method, endpoint, sum(good), sum(total) FROM {table} WHERE slo = ? "
                f"AND environment = ? AND source IN ({_marks(sources)}) AND bucket >= ? "
                "AND bucket < ? GROUP BY method, endpoint",
                (slo, environment, *sources, lo, hi),
            ):
                acc[f"{method} {endpoint}"] = [good or 0.0, total or 0.0]
        return out

    def window_sums(
        self, slo: str, environment: str, sources: Sequence[str], end: int, windows: Sequence[int]
    ) -> dict[str, dict[int, Counts]]:
        """Per endpoint, the counts in each window ``[end - w, end)``.

        Whole hours come from ``events_hourly`` and only the partial hours at each
        window's edges from the per-second table: a 28-day report reads ~7k rows per SLO
        instead of ~80k. The result equals :func:`slo.budget.window_counts` over
        :meth:`slo_rows` (the tests hold them equal).
        """
        plans = [(w, *_split_hours(end - w, end)) for w in sorted(windows)]
        minutes = self._sum_ranges(
            "events", slo, environment, sources, {r for _, rs, _ in plans for r in rs}
        )
        hours = self._sum_ranges(
            "events_hourly", slo, environment, sources, {h for _, _, h in plans if h}
        )
        out: dict[str, dict[int, Counts]] = {}
        for w, minute_ranges, hour_range in plans:
            parts = [minutes[r] for r in minute_ranges]
            if hour_range is not None:
                parts.append(hours[hour_range])
            totals: dict[str, list[float]] = {}
            for part in parts:
                for key, (good, total) in part.items():
                    acc = totals.setdefault(key, [0.0, 0.0])
                    acc[0] += good
                    acc[1] += total
            for key, (good, total) in totals.items():
                out.setdefault(key, {})[w] = Counts(good, total)
        for sums in out.values():
            for w in windows:
                sums.setdefault(w, Counts())
        return out

    def first_bucket(
        self, slo: str, environment: str, sources: Sequence[str], since: int, until: int
    ) -> int | None:
        """The earliest second with events in ``[since, until)``: where a chart starts."""
        (first,) = self._query(
            f"SELECT min(bucket) FROM events WHERE slo = ? AND environment = ? "
            f"AND source IN ({_marks(sources)}) AND bucket >= ? AND bucket < ?",
            (slo, environment, *sources, since, until),
        )[0]
        return None if first is None else int(first)

    def series(
        self,
        slo: str,
        environment: str,
        sources: Sequence[str],
        since: int,
        until: int,
        step: int = HOUR,
    ) -> dict[str, list[tuple[int, float, float]]]:
        """Per endpoint, ``(start, good, total)`` per epoch-aligned ``step`` in ``[since, until)``.

        Exact over the range: a step of an hour or more reads whole hours from the hourly
        table and only the partial hours at the edges from the per-second table; a finer
        step reads the per-second table (the charts choose one only for short histories,
        slo.timeline.choose_step). The edge steps hold only what lies inside the range.
        """
        if step % HOUR:
            parts = [("events", since, until)]
        else:
            edges, middle = _split_hours(since, until)
            parts = [("events", lo, hi) for lo, hi in edges]
            if middle is not None:
                parts.append(("events_hourly", *middle))
        merged: dict[str, dict[int, list[float]]] = {}
        for table, lo, hi in parts:
            if hi <= lo:
                continue
            for method, endpoint, start, good, total in self._grouped(
                table, slo, environment, sources, lo, hi, step
            ):
                acc = merged.setdefault(f"{method} {endpoint}", {}).setdefault(start, [0.0, 0.0])
                acc[0] += good or 0.0
                acc[1] += total or 0.0
        return {
            key: [(int(s), g, t) for s, (g, t) in sorted(rows.items())]
            for key, rows in sorted(merged.items())
        }

    def source_totals(
        self, slos: Sequence[str], environment: str, source: str, since: float, until: float
    ) -> list[tuple[str, Counts]]:
        """Per SLO, the events of one source in the window (to say what was left out)."""
        out = []
        for slo in slos:
            good, total = self._query(
                "SELECT sum(good), sum(total) FROM events WHERE slo = ? AND environment = ? "
                "AND source = ? AND bucket >= ? AND bucket < ?",
                (slo, environment, source, math.floor(since), math.floor(until)),
            )[0]
            if total:
                out.append((slo, Counts(good or 0.0, total)))
        return out

    def probe_rows(self, environment: str, since: float, until: float) -> list[ProbeRow]:
        """Each probe as it stood at ``until``: its newest outcome before ``until``, and its
        tallies over ``[since, until)``.

        The newest outcome is chosen among those before ``until`` (not the newest of all,
        then dropped if after ``until``: a replay would show no probe at all). Tallies
        come from the hourly table for whole hours and from the outcome history for the
        partial hours at the edges, so an outcome after ``until`` never counts.
        """
        since, until = math.floor(since), math.floor(until)
        tallies: dict[str, list[int]] = {}

        def add(probe: str, counts: Sequence[int]) -> None:
            acc = tallies.setdefault(probe, [0, 0, 0, 0])
            for i, n in enumerate(counts):
                acc[i] += int(n or 0)

        first_full = -(-since // HOUR) * HOUR
        current = until // HOUR * HOUR
        edges = (
            [(since, until)] if first_full > current else [(since, first_full), (current, until)]
        )
        if first_full <= current:
            for probe, *counts in self._query(
                "SELECT probe, sum(passed), sum(failed), sum(skipped), sum(error) "
                "FROM probe_outcomes WHERE environment = ? AND bucket >= ? AND bucket < ? "
                "GROUP BY probe",
                (environment, first_full, current),
            ):
                add(probe, counts)
        for lo, hi in edges:
            if hi <= lo:
                continue
            for probe, outcome, n in self._query(
                "SELECT i.probe, h.outcome, count(*) FROM probe_ids i "
                "JOIN probe_history h ON h.probe_id = i.id "
                "WHERE i.environment = ? AND h.ts >= ? AND h.ts < ? GROUP BY i.probe, h.outcome",
                (environment, lo, hi),
            ):
                counts = [0, 0, 0, 0]
                counts[rec.OUTCOMES.index(outcome)] = n
                add(probe, counts)
        out = []
        for probe, ts, family, endpoint, method, outcome, reason in self._query(
            "SELECT i.probe, h.ts, l.family, l.endpoint, l.method, h.outcome, h.reason "
            "FROM probe_ids i JOIN probe_last l USING (environment, probe) "
            "JOIN probe_history h ON h.probe_id = i.id AND h.ts = (SELECT max(ts) "
            "FROM probe_history WHERE probe_id = i.id AND ts < ?) "
            "WHERE i.environment = ? ORDER BY l.family, i.probe",
            (until, environment),
        ):
            p, f, s, e = tallies.get(probe, (0, 0, 0, 0))
            out.append(ProbeRow(probe, family, endpoint, method, outcome, ts, reason, p, f, s, e))
        return out

    def last_outcomes(self) -> list[LastOutcome]:
        """Every probe's newest outcome, by environment and probe."""
        return [
            LastOutcome(*row)
            for row in self._query(
                "SELECT environment, coalesce(target, ''), probe, family, endpoint, method, "
                "outcome, duration_s FROM probe_last ORDER BY environment, probe"
            )
        ]

    def cumulative(self) -> list[EventTotal]:
        """All-time counts per SLO, environment, source and endpoint: counters."""
        return [
            EventTotal(*row)
            for row in self._query(
                "SELECT slo, environment, source, method, endpoint, sum(good), sum(total) "
                "FROM events GROUP BY slo, environment, source, method, endpoint"
            )
        ]

    def run_history(self, environment: str, since: float, until: float) -> list[RunHistory]:
        """Per source, the environment's runs that started by ``until``: how many, how many
        of them at or after ``since``, and when the oldest and the newest started.

        What the gate's history rule reads: event counts cannot tell a ledger that a lost
        cache left with one run from weeks of scheduled runs. A run's start is its first
        record's timestamp; runs are identified by ``run_id``, so each counts once.
        """
        rows = self._query(
            "SELECT source, count(*), coalesce(sum(first_ts >= ?), 0), min(first_ts), "
            "max(first_ts) FROM runs WHERE environment = ? AND first_ts IS NOT NULL "
            "AND first_ts <= ? GROUP BY source ORDER BY source",
            (since, environment, until),
        )
        return [
            RunHistory(
                environment=environment,
                source=source,
                since=since,
                until=until,
                runs=int(runs),
                recent_runs=int(recent),
                first_ts=first,
                last_ts=last,
            )
            for source, runs, recent, first, last in rows
        ]

    def load_runs(self, environment: str | None = None) -> list[LoadRun]:
        """Load runs, newest first."""
        sql = "SELECT run_id, environment, first_ts FROM runs WHERE source = 'load'"
        params: tuple = ()
        if environment:
            sql += " AND environment = ?"
            params = (environment,)
        return [
            LoadRun(*row)
            for row in self._query(sql + " ORDER BY coalesce(started, first_ts) DESC", params)
        ]

    def load_steps(self, run_id: str) -> dict[str, list[StepRow]]:
        """Per SLO, the run's stages in order."""
        out: dict[str, list[StepRow]] = {}
        for slo, index, users, rate, good, total in self._query(
            "SELECT slo, stage_index, users, rate_per_s, good, total FROM load_steps "
            "WHERE run_id = ? ORDER BY slo, stage_index",
            (run_id,),
        ):
            out.setdefault(slo, []).append(StepRow(index, users, rate, good, total))
        return out


def _split_hours(lo: int, hi: int) -> tuple[list[tuple[int, int]], tuple[int, int] | None]:
    """``[lo, hi)`` as its partial edge hours (read per second) and the whole hours
    between them (read from the hourly table), or one range when it lies within an hour."""
    first_full = -(-lo // HOUR) * HOUR
    current = hi // HOUR * HOUR  # start of the (partial) hour that holds ``hi``
    if first_full > current:
        return [(lo, hi)], None
    return [(lo, first_full), (current, hi)], (first_full, current)


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" for _ in items) or "NULL"
