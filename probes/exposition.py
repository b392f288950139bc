"""Prometheus text exposition as plain data, and the maths of two scrapes; pure.

`parse` turns a scrape's text into a `Scrape` with prometheus-client's own
parser (the format's reference implementation in Python); everything else
judges `Scrape` values: required families and types, histogram structure
(`le` buckets, cumulative, `+Inf` equal to `_count`), counters that went
down between two scrapes, the 5xx share of the requests counted between
them and a quantile of the latency histogram between them, interpolated
within buckets exactly as PromQL's `histogram_quantile` does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]


class ExpositionError(ValueError):
    """The text is not a Prometheus exposition; the message says where it broke."""


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)

    @property
    def key(self) -> SeriesKey:
        return (self.name, self.labels)


@dataclass(frozen=True)
class Family:
    name: str
    type: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class Scrape:
    families: tuple[Family, ...]

    def family(self, exposed: str) -> Family | None:
        """The family a profile names as exposed: `http_requests_total` is the counter
        family `http_requests` (the parser strips `_total`)."""
        for family in self.families:
            if family.name == exposed:
                return family
            if family.type == "counter" and f"{family.name}_total" == exposed:
                return family
        return None

    def samples(self) -> Iterator[Sample]:
        for family in self.families:
            yield from family.samples

    def series(self, name: str) -> dict[Labels, float]:
        return {s.labels: s.value for s in self.samples() if s.name == name}


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def parse(text: str, *, openmetrics: bool = False) -> Scrape:
    """The families of one scrape; raises ExpositionError on text that is not the format."""
    parser = openmetrics_families if openmetrics else text_string_to_metric_families
    try:
        families = tuple(
            Family(
                name=family.name,
                type=family.type,
                samples=tuple(Sample(s.name, _labels(s.labels), s.value) for s in family.samples),
            )
            for family in parser(text)
        )
    except (ValueError, TypeError, IndexError) as exc:
        raise ExpositionError(f"not Prometheus text format: {str(exc)[:120]}") from None
    if not families:
        raise ExpositionError("not Prometheus text format: no metric family in the body")
    seen: set[str] = set()
    for family in families:
        if family.name in seen:
            raise ExpositionError(f"family {family.name} is exposed twice (split TYPE blocks)")
        seen.add(family.name)
    return Scrape(families)


def missing_families(scrape: Scrape, wanted: Sequence[tuple[str, str]]) -> list[str]:
    """Problems with the families a profile requires: `(exposed name, type)` pairs."""
    problems = []
    for name, kind in wanted:
        family = scrape.family(name)
        if family is None:
            problems.append(f"{name} ({kind}) is absent")
        elif family.type != kind:
            problems.append(f"{name} is a {family.type}, expected a {kind}")
        elif not family.samples:
            problems.append(f"{name} has no samples")
    return problems


def _le(value: str) -> float:
    return math.inf if value == "+Inf" else float(value)


def histogram_problems(family: Family) -> list[str]:
    """Each series of a histogram: `le` buckets, cumulative, a `+Inf` bucket equal to `_count`."""
    buckets: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    counts: dict[Labels, float] = {}
    problems: list[str] = []
    for sample in family.samples:
        rest = tuple((k, v) for k, v in sample.labels if k != "le")
        if sample.name == f"{family.name}_bucket":
            le = sample.label("le")
            if le is None:
                problems.append(f"{family.name}_bucket{_show(rest)} has no le label")
                continue
            try:
                buckets[rest].append((_le(le), sample.value))
            except ValueError:
                problems.append(f"{family.name}_bucket{_show(rest)} has le={le!r}")
        elif sample.name == f"{family.name}_count":
            counts[rest] = sample.value
    if not buckets and not problems:
        problems.append(f"{family.name} has no _bucket samples")
    for labels, series in buckets.items():
        series.sort()
        where = f"{family.name}{_show(labels)}"
        if series[-1][0] != math.inf:
            problems.append(f'{where} has no le="+Inf" bucket')
        values = [count for _, count in series]
        if any(later < earlier for earlier, later in pairwise(values)):
            problems.append(f"{where} buckets are not cumulative")
        count = counts.get(labels)
        if count is None:
            problems.append(f"{where} has no _count")
        elif series[-1][0] == math.inf and series[-1][1] != count:
            problems.append(f"{where} +Inf bucket {series[-1][1]:g} != _count {count:g}")
    return problems


def _show(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""


# Two scrapes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decrease:
    name: str
    labels: Labels
    before: float
    after: float

    def describe(self) -> str:
        return f"{self.name}{_show(self.labels)} went from {self.before:g} to {self.after:g}"


def _monotonic(family: Family) -> set[str]:
    """The sample names of a family that may only grow (`_created` and `_sum` aside)."""
    if family.type == "counter":
        return {f"{family.name}_total", family.name}
    if family.type == "histogram":
        return {f"{family.name}_bucket", f"{family.name}_count"}
    if family.type == "summary":
        return {f"{family.name}_count"}
    return set()


def decreases(before: Scrape, after: Scrape) -> list[Decrease]:
    """Counter (and histogram count) series present in both scrapes whose value went down."""
    earlier = {s.key: s.value for s in before.samples()}
    found = []
    for family in after.families:
        names = _monotonic(family)
        for sample in family.samples:
            if sample.name in names and sample.key in earlier:
                previous = earlier[sample.key]
                if sample.value < previous:
                    found.append(Decrease(sample.name, sample.labels, previous, sample.value))
    return found


def _sample_name(scrape: Scrape, exposed: str) -> str:
    family = scrape.family(exposed)
    if family is not None and family.type == "counter":
        return f"{family.name}_total"
    return exposed


def counter_delta(before: Scrape, after: Scrape, exposed: str) -> float:
    """How much a counter grew between the scrapes, summed over its series.

    A series absent from the first scrape started in between, from 0.
    """
    name = _sample_name(after, exposed)
    earlier = before.series(name)
    return sum(value - earlier.get(labels, 0.0) for labels, value in after.series(name).items())


@dataclass(frozen=True)
class Ratio:
    errors: float
    total: float

    @property
    def value(self) -> float | None:
        return self.errors / self.total if self.total > 0 else None


def error_ratio(before: Scrape, after: Scrape, exposed: str, status_label: str) -> Ratio:
    """Requests answered 5xx / all requests, counted between the two scrapes."""
    name = _sample_name(after, exposed)
    earlier = before.series(name)
    errors = total = 0.0
    for labels, value in after.series(name).items():
        grown = value - earlier.get(labels, 0.0)
        total += grown
        if dict(labels).get(status_label, "").startswith("5"):
            errors += grown
    return Ratio(errors, total)


def bucket_deltas(before: Scrape, after: Scrape, histogram: str) -> list[tuple[float, float]]:
    """`(le, count)` of the observations between the scrapes, summed over all series
    (PromQL: `sum by (le) (increase(<histogram>_bucket[window]))`), sorted by le."""
    name = f"{histogram}_bucket"
    earlier = before.series(name)
    summed: dict[float, float] = defaultdict(float)
    for labels, value in after.series(name).items():
        le = dict(labels).get("le")
        if le is None:
            continue
        summed[_le(le)] += value - earlier.get(labels, 0.0)
    return sorted(summed.items())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """PromQL's `histogram_quantile` on cumulative `(le, count)` buckets sorted by le.

    Linear interpolation inside the bucket the rank falls in, the lower bound of
    the first bucket being 0; a rank in the `+Inf` bucket gives the highest
    finite bound. None when undefined: no `+Inf` bucket, fewer than two
    buckets, or no observations.
    """
    if not 0 <= q <= 1:
        raise ValueError("q must be within [0, 1]")
    if len(buckets) < 2 or buckets[-1][0] != math.inf:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    index = next(i for i, (_, count) in enumerate(buckets) if count >= rank)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    upper, count = buckets[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = buckets[index - 1]
    inside = count - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside
