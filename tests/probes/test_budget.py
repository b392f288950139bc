"""Fitting a run into its budget and rotating the rest: every case within `slices` runs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from probes.budget import Case, fit, group_of


def _cases(costs: list[int], groups: list[str | None]) -> list[Case]:
    return [Case(f"t{i}", c, g) for i, (c, g) in enumerate(zip(costs, groups, strict=True))]


def test_what_fits_runs_whole() -> None:
    cases = _cases([5, 5, 5], [None, "a", "b"])
    coverage = fit(cases, budget_s=1, rate_per_s=20, slot=7)
    assert coverage.full and coverage.chosen == ("t1", "t2") and coverage.left == ()
    assert coverage.describe() == "budget 1 s: everything fits (3 probes)"


def test_slices_interleave_the_matrices_and_the_slot_picks_one() -> None:
    cases = _cases([2, 3, 3, 3, 3, 3, 3], [None, "auth", "auth", "auth", "lat", "lat", "lat"])
    # 10 requests bought, 2 always: slices of at most 8 -> 2 cases each (3 + 3).
    first = fit(cases, budget_s=1, rate_per_s=10, slot=0)
    assert first.slices == 3 and first.chosen == ("t1", "t4")  # one of each matrix
    second = fit(cases, budget_s=1, rate_per_s=10, slot=1)
    assert second.chosen == ("t2", "t5")
    assert fit(cases, budget_s=1, rate_per_s=10, slot=3).chosen == first.chosen  # it wraps
    described = second.describe()
    assert "slot 1 sends slice 2 of 3 (2 of 6 matrix cases, and the 1 probes" in described


def test_probes_that_always_run_over_the_budget_are_said_to_be() -> None:
    coverage = fit(_cases([50, 3, 3], [None, "a", "a"]), budget_s=1, rate_per_s=10, slot=0)
    assert coverage.over_budget and "over the budget" in coverage.describe()
    assert coverage.slices == 2  # the matrix still rotates, one case a run


@given(
    costs=st.lists(st.integers(1, 50), min_size=1, max_size=60),
    groups=st.data(),
    budget_s=st.floats(0.5, 30),
    rate=st.floats(1, 100),
)
def test_every_case_is_sent_within_slices_runs_and_each_run_fits(
    costs: list[int], groups: st.DataObject, budget_s: float, rate: float
) -> None:
    names = groups.draw(
        st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=len(costs), max_size=len(costs))
    )
    cases = _cases(costs, names)
    runs = [fit(cases, budget_s=budget_s, rate_per_s=rate, slot=slot) for slot in range(100)]
    slices = runs[0].slices
    rotating = {c.key for c in cases if c.group is not None}
    sent = [set(run.chosen) for run in runs[:slices]]
    assert set().union(*sent) == rotating  # everything within `slices` runs
    assert sum(len(s) for s in sent) == len(rotating)  # and each case once per cycle
    cost = {c.key: c.requests for c in cases}
    room = int(budget_s * rate) - sum(c.requests for c in cases if c.group is None)
    largest = max((cost[k] for k in rotating), default=1)
    for run in runs[:slices]:
        spent = sum(cost[k] for k in run.chosen)
        assert spent <= max(room, largest)  # a case bigger than the room gets a slice alone
        assert set(run.chosen) | set(run.left) == rotating


def test_plain_tests_and_controls_always_run() -> None:
    controls = frozenset({"test_valid_token_gets_2xx"})
    assert group_of("test_health", "", controls) is None
    assert group_of("test_valid_token_gets_2xx", "GET/jobs", controls) is None
    assert group_of("test_bad_credentials_get_401", "GET/jobs-missing", controls) == (
        "test_bad_credentials_get_401"
    )
