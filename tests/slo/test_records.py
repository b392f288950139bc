"""Results-format records and the SLI events they carry."""

from __future__ import annotations

import json

import pytest
from hdrh.histogram import HdrHistogram

from slo import records, synth
from slo.model import SliKind, Slo

AVAILABILITY = Slo("availability", SliKind.AVAILABILITY, 0.999, 86400)
LATENCY = Slo("latency", SliKind.LATENCY, 0.95, 86400, threshold_ms=200)


def _sample(status: int | None, latency: float | None) -> records.Sample:
    run = synth.RunBuilder("a" * 32).sample(1.0, "GET", "/scenes", status, latency)
    record = records.parse_record(json.dumps(run.records[0]))
    assert isinstance(record, records.Sample)
    return record


@pytest.mark.parametrize(
    ("status", "latency", "availability", "latency_events"),
    [
        (200, 20.0, (1, 1), (1, 1)),
        (200, 200.0, (1, 1), (1, 1)),  # at the threshold is within it
        (200, 200.1, (1, 1), (0, 1)),
        (401, 5.0, (1, 1), (1, 1)),  # a provoked 401 is an answer, not an outage
        (429, 5.0, (1, 1), (1, 1)),
        (500, 5.0, (0, 1), (1, 1)),
        (None, None, (0, 1), (0, 0)),  # no answer: bad for availability, not counted for latency
    ],
)
def test_sample_events(status, latency, availability, latency_events) -> None:
    sample = _sample(status, latency)
    assert records.sample_events(sample, AVAILABILITY) == availability
    assert records.sample_events(sample, LATENCY) == latency_events


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"schema": "other/1"}', "schema"),
        ('{"schema": "spacetime-probes/results/1", "kind": "nope"}', "kind"),
        (
            '{"schema": "spacetime-probes/results/1", "kind": "sample", "source": "probe", '
            '"seq": "1", "run_id": "x", "target": "t", "environment": "local"}',
            "seq",
        ),
        (
            '{"schema": "spacetime-probes/results/1", "kind": "sample", "source": "probe", '
            '"seq": 1, "run_id": "x", "target": "t", "environment": "local", "ts": true}',
            "ts",
        ),
    ],
)
def test_bad_lines_say_which_field(line: str, reason: str) -> None:
    with pytest.raises(records.BadRecord, match=reason):
        records.parse_record(line)


def test_aggregate_counts_must_be_consistent() -> None:
    run = synth.RunBuilder("b" * 32, source="load")
    run.aggregate(0, "GET", "/scenes", total=10, answered=11, server_errors=0, within_sla=5)
    run.aggregate(0, "GET", "/scenes", total=10, answered=5, server_errors=0, within_sla=5,
                  rate_limited=6)  # fmt: skip
    for record in run.records:
        with pytest.raises(records.BadRecord, match="counts"):
            records.parse_record(json.dumps(record))
    missing = {k: v for k, v in run.records[1].items() if k != "rate_limited"}
    with pytest.raises(records.BadRecord, match="rate_limited"):
        records.parse_record(json.dumps(missing))


def _hdr(values_us: list[int]) -> str:
    histogram = HdrHistogram(1, 60_000_000, 3)
    for value in values_us:
        histogram.record_value(value)
    return histogram.encode().decode("ascii")


def test_aggregate_events_use_within_sla_or_the_histogram() -> None:
    hdr = _hdr([50_000] * 6 + [250_000] * 2 + [900_000] * 2)
    run = synth.RunBuilder("c" * 32, source="load")
    run.aggregate(
        0, "GET", "/scenes", total=12, answered=10, server_errors=1, within_sla=6, hdr=hdr
    )
    agg = records.parse_record(json.dumps(run.records[0]))
    assert records.aggregate_events(agg, AVAILABILITY) == (9.0, 12.0)
    assert records.aggregate_events(agg, LATENCY) == (6.0, 10.0)  # sla_ms == threshold
    slower = Slo("l300", SliKind.LATENCY, 0.95, 86400, threshold_ms=300)
    assert records.aggregate_events(agg, slower) == pytest.approx((8.0, 10.0))
    no_hdr = run.aggregate(0, "GET", "/x", total=1, answered=1, server_errors=0, within_sla=1)
    agg2 = records.parse_record(json.dumps(no_hdr.records[-1]))
    with pytest.raises(records.BadRecord, match="hdr"):
        records.aggregate_events(agg2, slower)


def _sample_line(**replace: str) -> str:
    """A valid sample line with some values replaced by raw JSON text (``NaN`` ...)."""
    record = synth.RunBuilder("a" * 32).sample(1.0, "GET", "/scenes", 200, 20.0).records[0]
    line = json.dumps(record)
    for key, literal in replace.items():
        line = line.replace(f'"{key}": {json.dumps(record[key])}', f'"{key}": {literal}')
    return line


@pytest.mark.parametrize(
    ("replace", "reason"),
    [
        ({"ts": "NaN"}, "ts: expected a JSON number, got NaN"),
        ({"ts": "-Infinity"}, "ts: expected a JSON number, got -Infinity"),
        ({"ts": "1e300"}, "ts: expected epoch seconds from 0 to 253402300799, got 1e+300"),
        ({"ts": "1e400"}, "ts: expected epoch seconds from 0 to 253402300799, got inf"),
        ({"ts": "-1"}, "ts: expected epoch seconds from 0 to 253402300799, got -1"),
        ({"ts": "1" + "0" * 400}, "ts: expected epoch seconds from 0 to 253402300799, got 1000"),
        ({"latency_ms": "NaN"}, "latency_ms: expected a JSON number, got NaN"),
        ({"latency_ms": "1e999"}, "latency_ms: expected a finite number >= 0 or null, got inf"),
        ({"latency_ms": "-0.5"}, "latency_ms: expected a finite number >= 0 or null, got -0.5"),
    ],
)
def test_non_finite_or_absurd_numbers_are_bad_records(replace: dict[str, str], reason) -> None:
    """Python's json reads NaN/Infinity (and 1e400 as inf) unless told otherwise."""
    with pytest.raises(records.BadRecord) as caught:
        records.parse_record(_sample_line(**replace))
    assert str(caught.value).startswith(reason)


def test_non_finite_numbers_elsewhere_are_bad_records() -> None:
    run = synth.RunBuilder("b" * 32).outcome(5.0, "probes/test_x.py::test_y", duration_s=0.1)
    run.aggregate(5.0, "GET", "/scenes", total=1, answered=1, server_errors=0, within_sla=1)
    outcome, aggregate = (json.dumps(r) for r in run.records)
    for line, key in ((outcome, "duration_s"), (aggregate, "bucket_s"), (aggregate, "sla_ms")):
        value = json.dumps(json.loads(line)[key])
        with pytest.raises(records.BadRecord, match=f"^{key}: expected a finite number >= 0"):
            records.parse_record(line.replace(f'"{key}": {value}', f'"{key}": 1e400'))
    assert records.parse_record(_sample_line(latency_ms="null")).latency_ms is None  # type: ignore[union-attr]


def test_a_nan_anywhere_in_the_line_is_refused_with_its_path() -> None:
    record = synth.RunBuilder("c" * 32).outcome(5.0, "probes/test_x.py::test_y").records[0]
    record["measured"] = {"p95_ms": [1.0, "x"]}
    line = json.dumps(record).replace('"x"', "NaN")
    with pytest.raises(records.BadRecord, match=r"^measured\.p95_ms\[1\]: expected a JSON number"):
        records.parse_record(line)
    record["reason"] = "NaN or Infinity in a string is text"
    assert records.parse_record(json.dumps(record)).reason == record["reason"]  # type: ignore[union-attr]
