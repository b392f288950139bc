"""The request plan's arithmetic and wording (pure); that it holds is tests/test_suite.py's."""

from __future__ import annotations

import pytest

from probes.plan import Cost, Progress, RequestPlan, from_record, split_nodeid, total


def test_costs_add_and_scale() -> None:
    assert Cost(1, 2) + Cost.exactly(3) == Cost(4, 5)
    assert Cost(1, 2) * 3 == Cost(3, 6)
    assert total([]) == Cost(0, 0)
    with pytest.raises(ValueError):
        Cost(3, 2)


def test_the_plan_says_requests_per_family_and_time_at_the_paced_rate() -> None:
    plan = RequestPlan({"auth": Cost.exactly(210), "latency": Cost(440, 670)}, ("tls",), 40)
    assert plan.requests == Cost(650, 880)
    assert plan.seconds() == (650 / 40, 880 / 40)
    assert plan.describe() == (
        "plan: 650-880 requests (auth 210, latency 440-670), about 16-22 s at 40 r/s; "
        "not planned: tls"
    )
    exact = RequestPlan({"auth": Cost.exactly(1712)}, (), 40)
    assert exact.describe() == "plan: 1,712 requests (auth 1,712), about 43 s at 40 r/s"


def test_the_plan_survives_the_trip_from_a_worker() -> None:
    plan = RequestPlan({"auth": Cost(1, 2), "session": Cost(2, 6)}, ("x",), 80.0)
    assert from_record(plan.to_record()) == plan


def test_nodeids_split_into_module_function_and_parameters() -> None:
    assert split_nodeid("probes/test_auth.py::test_x[GET/jobs-missing]") == (
        "probes/test_auth.py",
        "test_x",
        "GET/jobs-missing",
    )
    assert split_nodeid("probes/test_health.py::test_y") == ("probes/test_health.py", "test_y", "")


def test_progress_says_when_each_family_is_done_and_what_is_left() -> None:
    plan = RequestPlan(
        {"auth": Cost.exactly(40), "latency": Cost(100, 400)}, (), 20, {"auth": 2, "latency": 1}
    )
    progress = Progress(plan)
    assert progress.finished("auth") is None  # one of its two probes
    assert progress.finished("auth") == (
        "auth done (2 probes, 40 requests planned); 1 of 2 families, "
        "100-400 requests left, about 5-20 s"
    )
    assert progress.finished("latency", 137) == (
        "latency done (1 probe, 137 requests sent of 100-400 planned); 2 of 2 families"
    )
