"""Exposition parsing and the two-scrape maths, against hand-made texts and PromQL's rules."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probes import exposition
from probes.exposition import ExpositionError, histogram_quantile

HISTOGRAM = """\
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1",route="/a"} {a1}
http_request_duration_seconds_bucket{le="1.0",route="/a"} {a2}
http_request_duration_seconds_bucket{le="+Inf",route="/a"} {a3}
http_request_duration_seconds_count{route="/a"} {a3}
http_request_duration_seconds_sum{route="/a"} 1.0
"""


def text(requests: dict[str, float], buckets: tuple[float, float, float] = (0, 0, 0)) -> str:
    lines = ["# HELP http_requests_total Total HTTP requests", "# TYPE http_requests_total counter"]
    for status, value in requests.items():
        lines.append(f'http_requests_total{{route="/a",status="{status}"}} {value}')
    a1, a2, a3 = buckets
    histogram = HISTOGRAM.replace("{a1}", str(a1)).replace("{a2}", str(a2))
    return "\n".join(lines) + "\n" + histogram.replace("{a3}", str(a3))


def test_parse_reads_families_and_counter_names() -> None:
    scrape = exposition.parse(text({"200": 3}, (1, 2, 3)))
    assert [f.name for f in scrape.families] == [
        "http_requests", "http_request_duration_seconds"
    ]  # fmt: skip
    assert scrape.family("http_requests_total") is scrape.families[0]
    assert scrape.family("http_request_duration_seconds").type == "histogram"  # type: ignore[union-attr]
    assert scrape.series("http_requests_total") == {(("route", "/a"), ("status", "200")): 3.0}


@pytest.mark.parametrize(
    "body",
    ['{"timestamp": 1, "requests": {"total": 3}}', "", "# only a comment\n",
     'x{a=1} 2', 'x{a="1"} not-a-number'],
)  # fmt: skip
def test_parse_rejects_what_is_not_the_format(body: str) -> None:
    with pytest.raises(ExpositionError, match="not Prometheus text format"):
        exposition.parse(body)


def test_parse_rejects_a_family_exposed_twice() -> None:
    body = "# TYPE x counter\nx_total 1\n# TYPE y gauge\ny 1\n# TYPE x counter\nx_total 2\n"
    with pytest.raises(ExpositionError, match="exposed twice"):
        exposition.parse(body)


def test_missing_families() -> None:
    scrape = exposition.parse(text({"200": 1}, (1, 1, 1)))
    wanted = [("http_requests_total", "counter"), ("http_request_duration_seconds", "histogram")]
    assert exposition.missing_families(scrape, wanted) == []
    assert exposition.missing_families(scrape, [("http_requests_total", "gauge")]) == [
        "http_requests_total is a counter, expected a gauge"
    ]
    assert exposition.missing_families(scrape, [("nope_total", "counter")]) == [
        "nope_total (counter) is absent"
    ]


def _histogram(body: str) -> exposition.Family:
    family = exposition.parse(body).family("http_request_duration_seconds")
    assert family is not None
    return family


def test_histogram_problems() -> None:
    assert exposition.histogram_problems(_histogram(text({}, (1, 2, 3)))) == []
    no_inf = "\n".join(line for line in text({}, (1, 2, 3)).splitlines() if "+Inf" not in line)
    assert exposition.histogram_problems(_histogram(no_inf)) == [
        'http_request_duration_seconds{route="/a"} has no le="+Inf" bucket'
    ]
    assert "not cumulative" in exposition.histogram_problems(_histogram(text({}, (3, 2, 3))))[0]
    wrong_count = text({}, (1, 2, 3)).replace('_count{route="/a"} 3', '_count{route="/a"} 4')
    assert "+Inf bucket 3 != _count 4" in exposition.histogram_problems(_histogram(wrong_count))[0]


def test_decreases_and_deltas() -> None:
    before = exposition.parse(text({"200": 10, "500": 1}, (5, 9, 10)))
    after = exposition.parse(text({"200": 4, "500": 1, "503": 2}, (5, 9, 12)))
    [fallen] = exposition.decreases(before, after)
    assert fallen.describe() == 'http_requests_total{route="/a",status="200"} went from 10 to 4'
    grown = exposition.parse(text({"200": 20, "500": 1, "503": 2}, (5, 9, 12)))
    assert exposition.decreases(before, grown) == []
    # A series new since the first scrape counts from 0.
    assert exposition.counter_delta(before, grown, "http_requests_total") == 12
    ratio = exposition.error_ratio(before, grown, "http_requests_total", "status")
    assert (ratio.errors, ratio.total, ratio.value) == (2, 12, pytest.approx(2 / 12))
    assert exposition.error_ratio(before, before, "http_requests_total", "status").value is None


def test_decreases_ignore_gauges_created_and_sum() -> None:
    before = exposition.parse("# TYPE g gauge\ng 5\n# TYPE c counter\nc_total 1\nc_created 100\n")
    after = exposition.parse("# TYPE g gauge\ng 1\n# TYPE c counter\nc_total 1\nc_created 50\n")
    assert exposition.decreases(before, after) == []


def test_bucket_deltas_sum_over_series() -> None:
    two_routes = text({}, (1, 2, 3)) + HISTOGRAM.split("\n", 1)[1].replace('"/a"', '"/b"').replace(
        "{a1}", "0"
    ).replace("{a2}", "1").replace("{a3}", "1")
    before = exposition.parse(text({}, (1, 2, 3)))
    after = exposition.parse(two_routes)
    assert exposition.bucket_deltas(before, after, "http_request_duration_seconds") == [
        (0.1, 0.0), (1.0, 1.0), (math.inf, 1.0)
    ]  # fmt: skip


# histogram_quantile: PromQL's definition -----------------------------------------------------

BUCKETS = [(0.1, 50.0), (0.5, 90.0), (1.0, 95.0), (2.5, 100.0), (math.inf, 100.0)]


def test_quantile_interpolates_within_the_bucket() -> None:
    assert histogram_quantile(0.5, BUCKETS) == pytest.approx(0.1)
    assert histogram_quantile(0.25, BUCKETS) == pytest.approx(0.05)  # first bucket from 0
    assert histogram_quantile(0.7, BUCKETS) == pytest.approx(0.1 + 0.4 * 20 / 40)
    assert histogram_quantile(0.95, BUCKETS) == pytest.approx(1.0)
    assert histogram_quantile(0.99, BUCKETS) == pytest.approx(1.0 + 1.5 * 4 / 5)


def test_quantile_in_the_inf_bucket_is_the_highest_finite_bound() -> None:
    assert histogram_quantile(0.95, [(0.5, 1.0), (1.0, 2.0), (math.inf, 10.0)]) == 1.0


@pytest.mark.parametrize(
    "buckets",
    [[], [(math.inf, 3.0)], [(0.1, 1.0), (1.0, 3.0)], [(0.1, 0.0), (math.inf, 0.0)]],
)
def test_quantile_undefined(buckets: list[tuple[float, float]]) -> None:
    assert histogram_quantile(0.95, buckets) is None


@given(
    counts=st.lists(st.integers(0, 50), min_size=2, max_size=8),
    q=st.floats(0, 1),
    r=st.floats(0, 1),
)
def test_quantile_is_monotonic_and_bounded(counts: list[int], q: float, r: float) -> None:
    bounds = [0.005 * 2**i for i in range(len(counts) - 1)] + [math.inf]
    cumulative = [float(sum(counts[: i + 1])) for i in range(len(counts))]
    buckets = list(zip(bounds, cumulative, strict=True))
    low, high = sorted((q, r))
    a, b = histogram_quantile(low, buckets), histogram_quantile(high, buckets)
    if cumulative[-1] == 0:
        assert a is None and b is None
        return
    assert a is not None and b is not None
    assert 0 <= a <= b <= bounds[-2]
