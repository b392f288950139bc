"""The ledger under eight concurrent writers, `kill -9` mid-ingest, and damaged files.

Everything here runs `python -m slo` as a user (or a CI job) does, in subprocesses:

* eight writers at once on one new ledger, two of them ingesting a file another is
  ingesting too: every run counted exactly once, nobody sees "database is locked";
* SIGKILL of an ingest at chosen and at random points: the ledger opens, passes
  `PRAGMA integrity_check`, every run is there whole or not at all, nothing a reader saw
  committed is lost, and running the ingest again ends exactly where an uninterrupted
  ingest ends;
* random bytes, a truncated ledger, a damaged page, a foreign SQLite file, an empty
  file, a directory, an unreadable file, a FIFO: one line naming the path, exit 2, for
  `ingest`, `report` and `gate`, and the file left as it was.

Figures go to reports/self-test/reliability.md (see tests/reliability/report.py).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from reliability.harness import save_row
from support import ROOT

from slo import synth

# The writers and the kills are timed against this machine (cpu_heavy: alone); the
# damaged-file checks are one short command each and share the machine.
pytestmark = [pytest.mark.integration]

NOW = 1_767_225_600.0
SLOT_S = 300  # one probe run every 5 minutes: each run owns its own minute buckets
SAMPLES, OUTCOMES = 100, 100
RECORDS_PER_RUN = SAMPLES + OUTCOMES + 2
COMMAND_TIMEOUT_S = 90


def slo(*args: object, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """`python -m slo ...` from the project root, as a CI job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "slo", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def spawn(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "slo", *map(str, args)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@dataclass(frozen=True)
class RunsFile:
    """A results file of ``runs`` consecutive probe runs starting at ``start``."""

    path: Path
    start: float
    runs: int
    seed: int

    @property
    def records(self) -> int:
        return self.runs * RECORDS_PER_RUN

    def run_ids(self) -> list[str]:
        return [synth.run_id(self.seed * 10_000_000 + n) for n in range(self.runs)]

    def slots(self) -> list[tuple[str, float]]:
        return [(rid, self.start + n * SLOT_S) for n, rid in enumerate(self.run_ids())]


def write_runs(directory: Path, name: str, start: float, runs: int, seed: int) -> RunsFile:
    path = directory / name
    history = synth.probe_history(start=start, runs=runs, every_s=SLOT_S, seed=seed,
                                  samples_per_run=SAMPLES, outcomes_per_run=OUTCOMES,
                                  error_ratio=0.01, slow_ratio=0.05)  # fmt: skip
    path.write_text(synth.dumps(history), encoding="utf-8")
    return RunsFile(path, start, runs, seed)


# ----------------------------------------------------------------------------- reading back


def integrity(ledger: Path) -> str:
    conn = sqlite3.connect(ledger)
    try:
        return " ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def dump(ledger: Path) -> dict[str, list[tuple]]:
    """Every table, sorted; ``runs.ingested_at`` (the clock) left out."""
    conn = sqlite3.connect(ledger)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {}
        for table in sorted(tables):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            keep = ", ".join(c for c in columns if c != "ingested_at")
            out[table] = sorted(conn.execute(f"SELECT {keep} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def run_states(ledger: Path, slots: Sequence[tuple[str, float]]) -> dict[str, tuple]:
    """Per run: (its runs row?, its seqs per scope, its events per SLO in its own slot)."""
    conn = sqlite3.connect(ledger)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            return {rid: (False, (), ()) for rid, _ in slots}
        states = {}
        for rid, t0 in slots:
            has_row = conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (rid,)).fetchone()
            seqs = tuple(conn.execute(
                "SELECT scope, seqs FROM run_seqs WHERE run_id = ? ORDER BY scope", (rid,)
            ))  # fmt: skip
            events = tuple(conn.execute(
                "SELECT slo, sum(good), sum(total) FROM events WHERE bucket >= ? AND bucket < ? "
                "GROUP BY slo ORDER BY slo", (int(t0 // 60 * 60), t0 + SLOT_S),
            ))  # fmt: skip
            states[rid] = (has_row is not None, seqs, events)
        return states
    finally:
        conn.close()


def committed_runs(ledger: Path) -> set[str]:
    """What a reader sees committed right now (empty while the ledger is being made)."""
    try:
        conn = sqlite3.connect(f"file:{ledger}?mode=rw", uri=True, timeout=0.2)
    except sqlite3.Error:
        return set()
    try:
        return {r[0] for r in conn.execute("SELECT run_id FROM runs")}
    except sqlite3.Error:  # no schema yet, or busy
        return set()
    finally:
        conn.close()


def one_line_error(done: subprocess.CompletedProcess[str], path: Path) -> str:
    """Exit 2, one ``slo: error:`` line naming ``path``, no traceback: returns the line."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("slo: error: "), lines[0]
    assert str(path) in lines[0], lines[0]
    assert "(internal)" not in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- eight writers


@pytest.mark.cpu_heavy
def test_eight_concurrent_writers_count_every_run_once(tmp_path: Path) -> None:
    """Eight `slo ingest` at once on a ledger none of them finds: six distinct files, and
    two files ingested by two writers each. BEGIN IMMEDIATE queues them; the seqs read
    inside the write lock keep the doubled files from counting twice."""
    files = [
        write_runs(tmp_path, f"r{n}.jsonl", NOW - 86400 + n * 40 * SLOT_S, runs=40, seed=n + 1)
        for n in range(6)
    ]
    assignment = [*files, files[0], files[1]]
    ledger = tmp_path / "ledger.sqlite"
    started = time.monotonic()
    writers = [spawn("ingest", "--ledger", ledger, f.path) for f in assignment]
    outputs = [w.communicate(timeout=COMMAND_TIMEOUT_S) for w in writers]
    wall_s = time.monotonic() - started

    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert "locked" not in err + out and "busy" not in err + out, err
    new = {}
    for f, (out, _) in zip(assignment, outputs, strict=True):
        # "slo: ingest: PATH: 8080 records from 40 run(s), 8080 new, 0 already counted"
        counted = int(out.split(" records from ")[1].split(", ")[1].split()[0])
        new.setdefault(f.path, []).append(counted)
    for f in files:
        assert sorted(new[f.path]) == ([0, f.records] if f in assignment[6:] else [f.records])

    assert integrity(ledger) == "ok"
    slots = [s for f in files for s in f.slots()]
    for rid, (has_row, seqs, events) in run_states(ledger, slots).items():
        assert has_row, rid
        assert dict(seqs) == {
            "*": f"0-{RECORDS_PER_RUN - 1}", "availability": f"1-{SAMPLES}",
            "latency": f"1-{SAMPLES}",
        }, rid  # fmt: skip
        assert events[0][0] == "availability" and events[0][2] == SAMPLES, (rid, events)
    serial = tmp_path / "serial.sqlite"
    done = slo("ingest", "--ledger", serial, *(f.path for f in files))
    assert done.returncode == 0, done.stderr
    assert dump(ledger) == dump(serial)  # the same ledger as one writer, one file at a time

    writer_records = sum(f.records for f in assignment)
    save_row("reliability", "ledger-1-writers", {
        "name": "ledger, eight concurrent `slo ingest` on a new ledger",
        "figures": f"{writer_records} records ({len(files) * 40} distinct runs, 2 files "
                   f"ingested twice at once) in {wall_s:.1f} s wall "
                   f"({writer_records / wall_s:,.0f} records/s for all eight, start-up "
                   f"included); 8/8 exit 0, 0 'database is locked'; every run counted once; "
                   f"integrity_check ok",
    })  # fmt: skip


# ----------------------------------------------------------------------------- kill -9


@dataclass(frozen=True)
class KillBench:
    """Inputs and the ledgers an uninterrupted ingest leaves, made once per worker."""

    directory: Path
    base: RunsFile  # committed before every kill: must survive all of them
    files: tuple[RunsFile, ...]  # ingested by the command that gets killed, one per transaction
    base_ledger: Path
    reference: Path  # base, then the files, never interrupted
    per_file_s: float  # how long one file's transaction takes, measured

    def slots(self) -> list[tuple[str, float]]:
        return [s for f in (self.base, *self.files) for s in f.slots()]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> KillBench:
    directory = tmp_path_factory.mktemp("kill")
    start = NOW - 3 * 86400
    base = write_runs(directory, "base.jsonl", start, runs=10, seed=50)
    files = tuple(
        write_runs(directory, f"big{n}.jsonl", start + (10 + n * 60) * SLOT_S, runs=60, seed=60 + n)
        for n in range(4)
    )
    base_ledger = directory / "base.sqlite"
    assert slo("ingest", "--ledger", base_ledger, base.path).returncode == 0
    reference = directory / "reference.sqlite"
    shutil.copy(base_ledger, reference)
    one = slo("ingest", "--ledger", reference, files[0].path)
    began = time.monotonic()
    done = slo("ingest", "--ledger", reference, *(f.path for f in files[1:]))
    per_file_s = (time.monotonic() - began) / 3  # start-up spread over three files
    assert one.returncode == 0 and done.returncode == 0, one.stderr + done.stderr
    return KillBench(directory, base, files, base_ledger, reference, per_file_s)


@dataclass(frozen=True)
class Kill:
    at_s: float  # after the ingest started
    runs_seen: set[str]  # committed, as a reader saw them before the kill


def wal_changes(ledger: Path) -> tuple[int, int]:
    try:
        st = os.stat(f"{ledger}-wal")
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def ingest_and_kill(ledger: Path, files: Sequence[RunsFile], when: str, rng: random.Random,
                    per_file_s: float) -> Kill:  # fmt: skip
    """Start `slo ingest FILES` and SIGKILL it at ``when``:

    * ``creating``: as soon as the ledger file exists (connect, schema, first ingest);
    * ``write-N``: at the N-th change seen to the -wal file, i.e. inside a commit's
      writes (before the first one, nothing but reads and parsing has happened);
    * ``after-K``: once a reader sees K files committed, plus a random part of a file's
      time: parsing and counting, with the write lock held.

    A reader polls the ledger meanwhile: what it saw committed must survive the kill.
    """
    process = spawn("ingest", "--ledger", ledger, *(f.path for f in files))
    began = time.monotonic()
    deadline = began + COMMAND_TIMEOUT_S
    kind, _, number = when.partition("-")
    target = int(number or 0)
    seen: set[str] = set()
    last_wal = wal_changes(ledger)
    wal_seen = 0
    next_read = 0.0
    delay_until: float | None = None
    try:
        while process.poll() is None and time.monotonic() < deadline:
            now = time.monotonic()
            if kind == "creating":
                if ledger.exists():
                    break
            elif kind == "write":
                wal = wal_changes(ledger)
                if wal != last_wal and wal[0] > 0:
                    wal_seen += 1
                    last_wal = wal
                    if wal_seen >= target:
                        break
            elif now >= next_read:
                seen |= committed_runs(ledger)
                next_read = now + 0.02
                done_files = sum(1 for f in files if set(f.run_ids()) <= seen)
                if delay_until is None and done_files >= target and Path(f"{ledger}-wal").exists():
                    delay_until = now + rng.uniform(0.0, 0.8) * per_file_s
                if delay_until is not None and now >= delay_until:
                    break
            time.sleep(0.0005 if kind != "after" else 0.002)
        at_s = time.monotonic() - began
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, (
        f"the ingest ended ({process.returncode}) before the kill at {when}; "
        "the bench is too small for this machine"
    )
    return Kill(at_s, seen)


KILL_POINTS = ["creating", "write-1", "write-3", "after-0", "after-1", "after-2"]


@pytest.mark.cpu_heavy
@pytest.mark.parametrize("when", KILL_POINTS)
def test_kill_9_during_ingest_loses_no_committed_run(
    bench: KillBench, tmp_path: Path, when: str
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    ledger = tmp_path / "ledger.sqlite"
    if when == "creating":  # the first ingest ever, killed while it makes the ledger
        files: tuple[RunsFile, ...] = (bench.base,)
        expected = bench.base_ledger
    else:
        shutil.copy(bench.base_ledger, ledger)
        files = bench.files
        expected = bench.reference
    kill = ingest_and_kill(ledger, files, when, rng, bench.per_file_s)
    wal_bytes = wal_changes(ledger)[0]

    # The ledger opens as users open it, and SQLite finds nothing wrong.
    began = time.monotonic()
    readable = slo("report", "--ledger", ledger, "--now", NOW, "--quiet", "--format", "json",
                   "--out-dir", tmp_path / "report")  # fmt: skip
    report_s = time.monotonic() - began
    if dump(ledger):
        assert readable.returncode == 0, readable.stderr
        opened = f"report read it in {report_s:.1f} s"
    else:  # killed before the schema was committed: an empty ledger, and said so
        assert one_line_error(readable, ledger).endswith("found an empty database")
        opened = "no schema yet: report said 'found an empty database', exit 2"
    assert integrity(ledger) == "ok"

    # Every run whole or absent; every file (one transaction) whole or absent.
    reference = run_states(expected, bench.slots())
    after = run_states(ledger, bench.slots())
    absent = (False, (), ())
    for rid, state in after.items():
        assert state in (reference[rid], absent), f"run {rid} is partial after the kill: {state}"
    present = {rid for rid, state in after.items() if state != absent}
    for f in files:
        ids = set(f.run_ids())
        assert ids <= present or not ids & present, f"{f.path.name} is partly committed"
    if when != "creating":
        assert set(bench.base.run_ids()) <= present, "a run committed before the kill was lost"
    assert kill.runs_seen <= present, "a run a reader saw committed was lost"

    # Running the ingest again completes it, exactly.
    began = time.monotonic()
    again = slo("ingest", "--ledger", ledger, *(f.path for f in files))
    recover_s = time.monotonic() - began
    assert again.returncode == 0, again.stderr
    assert dump(ledger) == dump(expected)
    assert integrity(ledger) == "ok"

    committed = sum(1 for f in files if set(f.run_ids()) <= present)
    save_row("reliability", f"ledger-2-kill-{KILL_POINTS.index(when)}-{when}", {
        "name": f"ledger, `kill -9` of `slo ingest` ({when})",
        "figures": f"killed at {kill.at_s:.2f} s with {committed} of {len(files)} file(s) "
                   f"committed (-wal {max(wal_bytes, 0)} bytes, seed {seed}); {opened}; "
                   f"integrity_check ok, no partial run; re-ingest "
                   f"completed it in {recover_s:.1f} s, equal to an uninterrupted ingest",
    })  # fmt: skip


# ----------------------------------------------------------------------------- damaged files


def _random_bytes(path: Path, good: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(64 * 1024))


def _truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damaged_pages(path: Path, good: Path) -> None:
    """The SQLite header intact, the middle half of the pages overwritten."""
    data = bytearray(good.read_bytes())
    lo, hi = len(data) // 4 // 4096 * 4096, len(data) * 3 // 4 // 4096 * 4096
    data[lo:hi] = random.Random(2).randbytes(hi - lo)
    path.write_bytes(bytes(data))


def _foreign(path: Path, good: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users(id, name); INSERT INTO users VALUES (1, 'ada');")
    conn.close()


def _empty(path: Path, good: Path) -> None:
    path.write_bytes(b"")


def _directory(path: Path, good: Path) -> None:
    path.mkdir()


def _unreadable(path: Path, good: Path) -> None:
    shutil.copy(good, path)
    path.chmod(0)


def _fifo(path: Path, good: Path) -> None:
    os.mkfifo(path)


DAMAGE = {
    "random-bytes": (_random_bytes, "the file is corrupt (no SQLite header)"),
    "truncated": (_truncated, "the file is corrupt"),
    "damaged-pages": (_damaged_pages, "corrupt|quick_check says"),
    "foreign-sqlite": (_foreign, "expected a spacetime-probes SLO ledger, found tables users"),
    "zero-length": (_empty, "found an empty database"),
    "directory": (_directory, "found a directory"),
    "unreadable": (_unreadable, "expected a readable SQLite SLO ledger (Permission denied)"),
    "fifo": (_fifo, "found no regular file"),
}

# Root reads any file: the unreadable case then drops to `nobody` once slo is imported.
AS_NOBODY = (
    "import os, sys\n"
    "import slo.cli, slo.evaluate, slo.policy, slo.render, slo.sources, slo.store\n"
    "os.setgid(65534); os.setuid(65534)\n"
    "raise SystemExit(slo.cli.main(sys.argv[1:]))\n"
)


@pytest.fixture(scope="module")
def good_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("good")
    results = write_runs(directory, "r.jsonl", NOW - 86400, runs=60, seed=9)
    ledger = directory / "ledger.sqlite"
    assert slo("ingest", "--ledger", ledger, results.path).returncode == 0
    return ledger


def fingerprint(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    if not path.is_file():
        return "special"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except PermissionError:
        return f"mode:{path.stat().st_mode:o}:{path.stat().st_size}"


@pytest.mark.parametrize("command", ["ingest", "report", "gate"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_or_foreign_ledger_is_one_line_and_exit_2(
    good_ledger: Path, tmp_path: Path, damage: str, command: str
) -> None:
    as_nobody = damage == "unreadable" and os.geteuid() == 0
    if as_nobody:  # pytest's own temporary directories are root's alone (mode 700)
        tmp_path = Path(tempfile.mkdtemp(prefix="slo-unreadable-"))
        tmp_path.chmod(0o755)
    try:
        _damaged_ledger_case(good_ledger, tmp_path, damage, command, as_nobody)
    finally:
        if as_nobody:
            shutil.rmtree(tmp_path)


def _damaged_ledger_case(
    good_ledger: Path, tmp_path: Path, damage: str, command: str, as_nobody: bool
) -> None:
    make, expected = DAMAGE[damage]
    ledger = tmp_path / "ledger.sqlite"
    make(ledger, good_ledger)
    before = fingerprint(ledger)
    results = tmp_path / "r.jsonl"
    results.write_text(synth.dumps(synth.simple_run(1, NOW - 60, good=5)))
    argv: list[object] = {
        "ingest": ["ingest", "--ledger", ledger, results],
        "report": ["report", "--ledger", ledger, "--now", NOW, "--out-dir", tmp_path / "out"],
        "gate": ["gate", "--ledger", ledger, "--now", NOW],
    }[command]
    if as_nobody:
        done = subprocess.run(
            [sys.executable, "-c", AS_NOBODY, *map(str, argv)],
            cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
        )  # fmt: skip
    else:
        done = slo(*argv)

    if damage == "zero-length" and command == "ingest":
        # What SQLite itself makes on connect: a new ledger (another ingest may be making
        # it this very moment), so ingest fills it; report and gate refuse it.
        assert done.returncode == 0, done.stderr
        assert integrity(ledger) == "ok"
        return
    line = one_line_error(done, ledger)
    assert any(part in line for part in expected.split("|")), line
    assert not (tmp_path / "out").exists()
    assert fingerprint(ledger) == before, "the command changed the file it refused"
