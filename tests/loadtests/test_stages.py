"""Stage tables: the built-in shapes are data, and the lookup the shape ticks over."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.stages import (
    SHAPE_NAMES,
    StageError,
    StageLog,
    bucket_width,
    load_tables,
    progress_line,
    select,
    tables_from_str,
)


def test_builtin_tables_cover_every_shape_and_align_with_10_s_buckets() -> None:
    tables = load_tables()
    assert set(SHAPE_NAMES) <= set(tables)
    for table in tables.values():
        assert all(stage.duration_s % 10 == 0 for stage in table.stages), table.name


def test_step_is_a_rising_staircase() -> None:
    users = [stage.users for stage in select(load_tables(), "step").stages]
    assert users == sorted(users) and len(set(users)) == len(users) > 3


def test_lookup_walks_the_table_then_ends() -> None:
    table = tables_from_str(
        "t: {stages: [{duration_s: 10, users: 1, spawn_rate: 1},"
        " {duration_s: 5, users: 4, spawn_rate: 2}]}"
    )["t"]
    assert table.duration_s == 15
    assert table.at(0).index == 0 and table.at(9.99).index == 0  # type: ignore[union-attr]
    assert table.at(10).users == 4  # type: ignore[union-attr]
    assert table.at(15) is None
    scaled = table.scaled(0.1)
    assert scaled.duration_s == pytest.approx(1.5)
    assert scaled.at(1.2).users == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "t: {stages: []}",
        "t: {stages: [{duration_s: 0, users: 1, spawn_rate: 1}]}",
        "t: {stages: [{duration_s: 1, users: 1.5, spawn_rate: 1}]}",
        "t: {stages: [{duration_s: 1, users: 1}]}",
        "t: [1, 2]",
        "[1, 2]",
    ],
)
def test_bad_tables_are_one_line_errors(text: str) -> None:
    with pytest.raises(StageError) as caught:
        tables_from_str(text)
    assert "\n" not in str(caught.value)


def test_unknown_shape_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(StageError, match="choose one of"):
        select(load_tables(), "sawtooth")
    with pytest.raises(StageError, match="cannot read stage table"):
        load_tables(tmp_path / "nope.yaml")


def test_stage_log_names_the_stage_in_force_at_the_bucket_start() -> None:
    log = StageLog()
    assert log.note(100.0, {"index": 0}) is True
    assert log.note(101.0, {"index": 0}) is False  # unchanged: not a new entry
    assert log.note(113.0, {"index": 1}) is True
    assert log.for_bucket(100.0) == {"index": 0}
    assert log.for_bucket(110.0) == {"index": 0}  # the book cuts this bucket at 113
    assert log.for_bucket(113.0) == {"index": 1}
    assert log.for_bucket(90.0) == {"index": 0}  # before the first tick
    assert StageLog().for_bucket(0.0) is None


def test_builtin_tables_keep_10_s_buckets_and_scaled_ones_get_buckets_that_fit() -> None:
    tables = load_tables()
    assert all(bucket_width(t, None, default_s=10.0) == 10.0 for t in tables.values())
    step = select(tables, "step").scaled(0.025)  # 3 s stages
    assert bucket_width(step, None, default_s=10.0) == pytest.approx(3.0)
    spike = select(tables, "spike").scaled(0.025)  # 3 s, 1.5 s, 4.5 s
    assert bucket_width(spike, None, default_s=10.0) == pytest.approx(1.5)
    odd = tables_from_str("t: {stages: [{duration_s: 15, users: 1, spawn_rate: 1}]}")["t"]
    assert bucket_width(odd, None, default_s=10.0) == pytest.approx(7.5)
    assert bucket_width(None, None, default_s=10.0) == 10.0
    assert bucket_width(step, 1.0, default_s=10.0) == 1.0


def test_a_configured_bucket_longer_than_a_stage_is_refused_in_one_line() -> None:
    step = select(load_tables(), "step").scaled(0.025)
    with pytest.raises(StageError) as caught:
        bucket_width(step, 10.0, default_s=10.0)
    assert str(caught.value) == (
        "--st-bucket-s 10 is longer than stage 1 of step (3 s as scaled): "
        "give --st-bucket-s <= 3, or leave it out to fit the stages"
    )


def test_progress_line_names_the_stage_its_users_and_the_time_left() -> None:
    step = select(load_tables(), "step")
    second = step.stages[1]
    assert progress_line(step, second, 120.2) == "stage 2 of 6: 20 users, 600 s left"
    assert progress_line(step.scaled(0.025), second, 3.0) == "stage 2 of 6: 20 users, 15 s left"
