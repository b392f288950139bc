"""Sets of record sequence numbers kept as merged intervals: the ledger's idempotency key.

A run contributes ``(run_id, seq)`` pairs. Storing one row per pair would cost about a
million rows over 28 days; a run's seqs are almost always one contiguous range, so the
ledger stores ``"0-1234"`` per run and re-ingesting a file (or a file that grew because
the run went on) only counts the seqs not already covered. Pure functions.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

Intervals = tuple[tuple[int, int], ...]


def normalise(pairs: Iterable[tuple[int, int]]) -> Intervals:
    """Sort and merge inclusive intervals that overlap or touch."""
    out: list[list[int]] = []
    for lo, hi in sorted(pairs):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def contains(intervals: Intervals, seq: int) -> bool:
    """Whether ``seq`` was already counted."""
    i = bisect_right(intervals, (seq, float("inf"))) - 1
    return i >= 0 and intervals[i][0] <= seq <= intervals[i][1]


def add(intervals: Intervals, seqs: Iterable[int]) -> Intervals:
    """The union of ``intervals`` and ``seqs``."""
    return normalise([*intervals, *((s, s) for s in seqs)])


def size(intervals: Intervals) -> int:
    return sum(hi - lo + 1 for lo, hi in intervals)


def encode(intervals: Intervals) -> str:
    """``((0, 9), (12, 12))`` -> ``"0-9,12"``: compact and readable in ``sqlite3``."""
    return ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in intervals)


def decode(text: str) -> Intervals:
    """Inverse of :func:`encode`; raises ``ValueError`` on anything else."""
    if not text:
        return ()
    pairs = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        pairs.append((int(lo), int(hi) if hi else int(lo)))
    return normalise(pairs)
