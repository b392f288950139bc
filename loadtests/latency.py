"""Exact latency per endpoint and time bucket, in HdrHistograms that merge across workers.

Locust's own stats round response times into buckets (10 ms wide between
100 and 999 ms), so "p95 <= 200 ms" cannot be judged from them. Here every
request's latency is kept to the microsecond until it lands in an
HdrHistogram (1 us .. 60 s, 3 significant digits), and the `within_sla` count
is taken from the raw value, so the verdict at the threshold is exact.

Recording is the hot path: a request adds one to a `dict` keyed by its
latency in microseconds (~0.1 us) instead of calling
`HdrHistogram.record_value` (~8 us in pure Python); the dict is folded into the
histogram in one pass when the tally is shipped or closed.

Workers ship their tallies with every Locust stats report (`drain`, HDR
`encode()`d); the master adds them (`merge`, `decode_and_add`) and closes a
bucket once no worker can still report into it (`close_due`). Nothing here
reads the clock or does I/O: times are arguments.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict

from hdrh.histogram import HdrHistogram

from loadtests.traffic import Outcome

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 60_000_000
HDR_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


def release(histogram: HdrHistogram | None) -> None:
    """Free a histogram now rather than at the next full garbage collection.

    hdrh's histogram and its encoder reference each other, so a dropped
    histogram (~140 KB of counts) waits for the cyclic collector; with one per
    endpoint per bucket, and one per worker report on the master, that
    garbage piles up to tens of MB between collections. Breaking the cycle
    lets reference counting free it at once.
    """
    if histogram is not None:
        histogram.encoder = None


def add_encoded(histogram: HdrHistogram, blob: bytes | str) -> None:
    """`decode_and_add` without leaving the decoded histogram to the cyclic collector."""
    other = HdrHistogram.decode(blob)
    histogram.add(other)
    release(other)


def to_us(latency_ms: float) -> int:
    """Milliseconds to whole microseconds (rounded), clamped into the histogram's range."""
    us = int(latency_ms * 1000.0 + 0.5)
    if us < HDR_LOWEST_US:
        return HDR_LOWEST_US
    return us if us <= HDR_HIGHEST_US else HDR_HIGHEST_US


def percentile_ms(histogram: HdrHistogram | None, percentile: float) -> float | None:
    if histogram is None or histogram.get_total_count() == 0:
        return None
    return histogram.get_value_at_percentile(percentile) / 1000.0


@dataclass
class Tally:
    """Counts and latencies of one endpoint in one bucket (or over the whole run).

    `hdr` holds the latency the run is judged by: from the intended send time
    in the open model (coordinated omission corrected), from the actual send
    otherwise. `hdr_uncorrected` exists only in the open model, for contrast.
    """

    total: int = 0
    answered: int = 0
    server_errors: int = 0
    rate_limited: int = 0
    failed: int = 0
    within_sla: int = 0
    pending: dict[int, int] = field(default_factory=dict)
    pending_uncorrected: dict[int, int] = field(default_factory=dict)
    hdr: HdrHistogram | None = None
    hdr_uncorrected: HdrHistogram | None = None

    def settle(self) -> None:
        """Fold the pending raw values into the histograms (once per ship or close)."""
        if self.pending:
            self.hdr = _fold(self.hdr, self.pending)
            self.pending = {}
        if self.pending_uncorrected:
            self.hdr_uncorrected = _fold(self.hdr_uncorrected, self.pending_uncorrected)
            self.pending_uncorrected = {}

    def add(self, other: Tally) -> None:
        """Add a settled tally into this one (bucket into run, worker into master)."""
        other.settle()
        self.settle()
        self.total += other.total
        self.answered += other.answered
        self.server_errors += other.server_errors
        self.rate_limited += other.rate_limited
        self.failed += other.failed
        self.within_sla += other.within_sla
        if other.hdr is not None:
            self.hdr = self.hdr or new_histogram()
            self.hdr.add(other.hdr)
        if other.hdr_uncorrected is not None:
            self.hdr_uncorrected = self.hdr_uncorrected or new_histogram()
            self.hdr_uncorrected.add(other.hdr_uncorrected)


def _fold_public(histogram: HdrHistogram, values: dict[int, int]) -> None:
    for value, count in values.items():
        histogram.record_value(value, count)


def _fold_direct(histogram: HdrHistogram, values: dict[int, int]) -> None:
    """What `_fold_public` does, with the index computed from the histogram's own layout."""
    counts = histogram.counts
    mask = histogram.sub_bucket_mask
    unit = histogram.unit_magnitude
    offset = unit + histogram.sub_bucket_half_count_magnitude + 1
    half_magnitude = histogram.sub_bucket_half_count_magnitude
    half = histogram.sub_bucket_half_count
    added = 0
    for value, count in values.items():
        bucket = (value | mask).bit_length() - offset
        counts[((bucket + 1) << half_magnitude) + (value >> (bucket + unit)) - half] += count
        added += count
    histogram.total_count += added
    histogram.min_value = min(histogram.min_value, min(values))
    histogram.max_value = max(histogram.max_value, max(values))


def _direct_agrees() -> bool:
    """Whether `_fold_direct` gives exactly what `record_value` gives with this hdrh."""
    values = {1: 1, 999: 2, 2047: 1, 2048: 3, 4095: 1, 212_400: 5, 59_999_999: 1, 60_000_000: 1}
    values.update({v: v % 7 + 1 for v in range(1, 3_000_000, 9_973)})
    reference, direct = new_histogram(), new_histogram()
    _fold_public(reference, values)
    try:
        _fold_direct(direct, values)
    except (AttributeError, IndexError, TypeError):
        return False
    same = (
        list(direct.counts) == list(reference.counts)
        and direct.get_total_count() == reference.get_total_count()
        and direct.get_min_value() == reference.get_min_value()
        and direct.get_max_value() == reference.get_max_value()
    )
    release(direct)
    release(reference)
    return same


# `record_value` costs ~8 us a call in pure Python: at a few thousand requests a
# second, several percent of a Locust process. The direct fold adds to the counts
# array itself (~0.3 us), and is used only if it agrees exactly with this hdrh.
_FOLD = _fold_direct if _direct_agrees() else _fold_public


def _fold(histogram: HdrHistogram | None, values: dict[int, int]) -> HdrHistogram:
    """Add `{value_us: count}` into a histogram (new if None), as `record_value` would."""
    histogram = histogram or new_histogram()
    if values:
        _FOLD(histogram, values)
    return histogram


@dataclass
class OpenCounts:
    """The open model's schedule keeping.

    `intended` = `sent` + `dropped` + `unsent`: dropped requests were too
    overdue to send; unsent ones were still waiting for a connection when the
    run stopped (they say the generator was behind, not that it gave up).
    """

    intended: int = 0
    sent: int = 0
    late: int = 0
    dropped: int = 0
    unsent: int = 0

    def add(self, other: OpenCounts) -> None:
        self.intended += other.intended
        self.sent += other.sent
        self.late += other.late
        self.dropped += other.dropped
        self.unsent += other.unsent

    def as_dict(self) -> OpenCountsDict:
        return {
            "intended": self.intended,
            "sent": self.sent,
            "late": self.late,
            "dropped": self.dropped,
            "unsent": self.unsent,
        }


class OpenCountsDict(TypedDict):
    intended: int
    sent: int
    late: int
    dropped: int
    unsent: int


class TallyRow(TypedDict):
    """One bucket of one endpoint, as a worker ships it (cf. Locust's ``StatsEntryDict``)."""

    method: str
    endpoint: str
    index: int
    total: int
    answered: int
    server_errors: int
    rate_limited: int
    failed: int
    within_sla: int
    hdr: bytes | None  # ``HdrHistogram.encode()``; None when no latency was recorded
    hdr_uncorrected: bytes | None


class DrainPayload(TypedDict):
    """What a worker adds to each Locust stats report under ``data["spacetime"]``."""

    bucket_s: float
    rows: list[TallyRow]
    open: OpenCountsDict


BucketKey = tuple[str, str, int]  # method, endpoint, bucket index (see `LatencyBook.index_of`)
EndpointKey = tuple[str, str]


@dataclass(frozen=True)
class ClosedBucket:
    """A written-out bucket: its counts and its histogram, already `encode()`d."""

    method: str
    endpoint: str
    start_s: float
    bucket_s: float
    tally: Tally  # counts only: its histograms were released once folded and encoded
    hdr: str


@dataclass(frozen=True)
class Segment:
    """A stretch of the run with one stage: buckets of `bucket_s` from `origin_s` on.

    Bucket `first_index + k` covers `[origin_s + k * bucket_s, ...)`, cut short at
    the next segment's origin, so no bucket spans a stage change.
    """

    origin_s: float
    first_index: int


class LatencyBook:
    """All tallies of one process: open buckets, whole-run totals and open-model counts.

    Buckets are `bucket_s` wide on a grid that restarts at each `new_segment`
    (a stage change): a bucket never spans two stages, whatever the width.
    """

    def __init__(self, sla_ms: float, bucket_s: float = 10.0) -> None:
        if sla_ms <= 0 or bucket_s <= 0:
            raise ValueError("sla_ms and bucket_s must be > 0")
        self.sla_ms = sla_ms
        self.bucket_s = bucket_s
        self._sla_us = sla_ms * 1000.0
        self.segments: list[Segment] = [Segment(0.0, 0)]
        self._origins: list[float] = [0.0]
        self._open: dict[BucketKey, Tally] = {}
        self.run: dict[EndpointKey, Tally] = {}
        self.open_counts = OpenCounts()
        self._closed_through = -1  # every bucket index <= this has been written
        self.late_folded = 0

    # -- the bucket grid -------------------------------------------------------

    def index_of(self, t_s: float) -> int:
        """The bucket a request started at `t_s` belongs to."""
        segment = self.segments[-1]
        if t_s < segment.origin_s:  # started before the last stage change (rare)
            segment = self.segments[max(0, bisect.bisect_right(self._origins, t_s) - 1)]
        return segment.first_index + int((t_s - segment.origin_s) // self.bucket_s)

    def new_segment(self, origin_s: float, first_index: int | None = None) -> Segment:
        """Start a fresh bucket at `origin_s` (a stage change); the one before ends there.

        A worker passes the master's `first_index` so every process numbers
        buckets alike; the master (or local process) leaves it to be computed.
        """
        if first_index is None:
            first_index = self.index_of(origin_s) + 1
        if origin_s <= self.segments[-1].origin_s or first_index <= self.segments[-1].first_index:
            return self.segments[-1]
        segment = Segment(origin_s, first_index)
        self.segments.append(segment)
        self._origins.append(origin_s)
        return segment

    def span_of(self, index: int, end_s: float | None = None) -> tuple[float, float]:
        """`(start_s, width_s)` of bucket `index`: cut at the next stage change, or `end_s`."""
        position = 0
        for i, segment in enumerate(self.segments):
            if segment.first_index <= index:
                position = i
        segment = self.segments[position]
        start = segment.origin_s + (index - segment.first_index) * self.bucket_s
        stop = start + self.bucket_s
        if position + 1 < len(self.segments):
            stop = min(stop, self.segments[position + 1].origin_s)
        if end_s is not None and start < end_s < stop:
            stop = end_s
        return start, max(stop - start, 0.0)

    # -- recording (hot path) -------------------------------------------------

    def record(
        self,
        method: str,
        endpoint: str,
        start_s: float,
        latency_ms: float | None,
        outcome: Outcome,
        *,
        corrected_ms: float | None = None,
    ) -> None:
        """One request. `latency_ms` is None when no response came back.

        With `corrected_ms` (open model) the corrected value is the one judged
        and the uncorrected one is kept beside it.
        """
        index = self.index_of(start_s)
        if index <= self._closed_through:
            index = self._closed_through + 1
            self.late_folded += 1
        key = (method, endpoint, index)
        tally = self._open.get(key)
        if tally is None:
            tally = self._open[key] = Tally()
        tally.total += 1
        if outcome is Outcome.NO_RESPONSE or latency_ms is None:
            tally.failed += 1
            return
        tally.answered += 1
        if outcome is Outcome.RATE_LIMITED:
            tally.rate_limited += 1
        elif outcome is Outcome.SERVER_ERROR:
            tally.server_errors += 1
            tally.failed += 1
        elif outcome is not Outcome.OK:
            tally.failed += 1
        judged_ms = latency_ms if corrected_ms is None else corrected_ms
        if judged_ms * 1000.0 <= self._sla_us:
            tally.within_sla += 1
        us = to_us(judged_ms)
        pending = tally.pending
        pending[us] = pending.get(us, 0) + 1
        if corrected_ms is not None:
            raw = to_us(latency_ms)
            unc = tally.pending_uncorrected
            unc[raw] = unc.get(raw, 0) + 1

    def record_sent(
        self,
        method: str,
        endpoint: str,
        started_s: float,
        response_ms: float,
        outcome: Outcome,
        *,
        intended_s: float | None = None,
    ) -> None:
        """One request as a user saw it: sent at `started_s`, answered in `response_ms`.

        In the open model (`intended_s`, when it was due) it is filed under its
        due time and judged by its latency from then (coordinated omission
        corrected); the latency from when it left is kept beside it.
        """
        latency = None if outcome is Outcome.NO_RESPONSE else response_ms
        if intended_s is None:
            self.record(method, endpoint, started_s, latency, outcome)
            return
        corrected = None
        if latency is not None:
            corrected = latency + max(0.0, started_s - intended_s) * 1000.0
        self.record(method, endpoint, intended_s, latency, outcome, corrected_ms=corrected)

    # -- worker -> master -----------------------------------------------------

    def drain(self) -> DrainPayload:
        """Everything recorded since the last drain, as a msgpack-able payload; resets."""
        rows: list[TallyRow] = []
        for (method, endpoint, index), tally in self._open.items():
            tally.settle()
            hdr = tally.hdr.encode() if tally.hdr is not None else None
            unc = tally.hdr_uncorrected.encode() if tally.hdr_uncorrected is not None else None
            release(tally.hdr)
            release(tally.hdr_uncorrected)
            rows.append(
                TallyRow(
                    method=method,
                    endpoint=endpoint,
                    index=index,
                    total=tally.total,
                    answered=tally.answered,
                    server_errors=tally.server_errors,
                    rate_limited=tally.rate_limited,
                    failed=tally.failed,
                    within_sla=tally.within_sla,
                    hdr=hdr,
                    hdr_uncorrected=unc,
                )
            )
        self._open = {}
        counts, self.open_counts = self.open_counts, OpenCounts()
        return DrainPayload(bucket_s=self.bucket_s, rows=rows, open=counts.as_dict())

    def merge(self, payload: DrainPayload) -> None:
        """Add a worker's drained payload into this (master's) book."""
        if payload.get("bucket_s") != self.bucket_s:
            raise ValueError(
                f"worker bucket {payload.get('bucket_s')} s differs from master {self.bucket_s} s"
            )
        for row in payload["rows"]:
            index = int(row["index"])
            if index <= self._closed_through:
                index = self._closed_through + 1
                self.late_folded += row["total"]
            key = (row["method"], row["endpoint"], index)
            tally = self._open.get(key)
            if tally is None:
                tally = self._open[key] = Tally()
            tally.total += row["total"]
            tally.answered += row["answered"]
            tally.server_errors += row["server_errors"]
            tally.rate_limited += row["rate_limited"]
            tally.failed += row["failed"]
            tally.within_sla += row["within_sla"]
            if row["hdr"] is not None:
                tally.hdr = tally.hdr or new_histogram()
                add_encoded(tally.hdr, row["hdr"])
            if row["hdr_uncorrected"] is not None:
                tally.hdr_uncorrected = tally.hdr_uncorrected or new_histogram()
                add_encoded(tally.hdr_uncorrected, row["hdr_uncorrected"])
        self.open_counts.add(OpenCounts(**payload["open"]))

    # -- closing buckets (master or local) --------------------------------------

    def close_due(self, now_s: float, lag_s: float) -> list[ClosedBucket]:
        """Close every bucket that ended more than `lag_s` ago; fold them into the run."""
        return self._close(self.index_of(now_s - lag_s) - 1)

    def close_all(self, end_s: float | None = None) -> list[ClosedBucket]:
        """Close every open bucket; the one holding `end_s` (the run's end) is cut there."""
        if not self._open:
            return []
        return self._close(max(index for _, _, index in self._open), end_s)

    def _close(self, through: int, end_s: float | None = None) -> list[ClosedBucket]:
        if through <= self._closed_through:
            return []
        due = sorted((k for k in self._open if k[2] <= through), key=lambda k: (k[2], k[1], k[0]))
        closed = []
        for key in due:
            tally = self._open.pop(key)
            tally.settle()
            method, endpoint, index = key
            run = self.run.get((method, endpoint))
            if run is None:
                run = self.run[(method, endpoint)] = Tally()
            run.add(tally)
            histogram = tally.hdr or new_histogram()
            encoded = histogram.encode().decode("ascii")
            release(histogram)
            release(tally.hdr_uncorrected)
            tally.hdr = tally.hdr_uncorrected = None
            start, width = self.span_of(index, end_s)
            closed.append(ClosedBucket(method, endpoint, start, width, tally, encoded))
        self._closed_through = through
        return closed

    def endpoints(self) -> Iterator[tuple[EndpointKey, Tally]]:
        """Whole-run tallies, settled, in a stable order (call after `close_all`)."""
        for key in sorted(self.run, key=lambda k: (k[1], k[0])):
            tally = self.run[key]
            tally.settle()
            yield key, tally

    def live(self) -> list[tuple[EndpointKey, Tally]]:
        """Whole-run tallies so far, open buckets included, as new tallies (for the web UI).

        The caller owns them: `release` their histograms when done.
        """
        merged: dict[EndpointKey, Tally] = {}
        for key, tally in self.run.items():
            merged.setdefault(key, Tally()).add(tally)
        for (method, endpoint, _), tally in self._open.items():
            merged.setdefault((method, endpoint), Tally()).add(tally)
        return sorted(merged.items(), key=lambda item: (item[0][1], item[0][0]))

    def total_requests(self) -> int:
        return sum(t.total for t in self.run.values()) + sum(t.total for t in self._open.values())


def merge_encoded(encoded: Iterable[bytes | str]) -> HdrHistogram:
    """One histogram from several `encode()`d ones (e.g. the `hdr` fields of a file)."""
    histogram = new_histogram()
    for blob in encoded:
        add_encoded(histogram, blob)
    return histogram
