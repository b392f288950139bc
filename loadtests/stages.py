"""Stage tables: the load shapes as data, and the pure lookup Locust's shape ticks over.

A shape is a list of stages (how long, how many users, how fast to get
there); `shapes.py` only asks `StageTable.at(elapsed_s)`. Keeping the tables
in YAML lets a capacity run change its staircase without touching code, and
keeps this module free of Locust so it is tested in process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

SHAPE_NAMES = ("ramp", "step", "spike", "soak")
BUILTIN_TABLES = "stages.yaml"


class StageError(ValueError):
    """A stage table that cannot be used; the message is one line naming where and why."""


@dataclass(frozen=True)
class Stage:
    index: int
    duration_s: float
    users: int
    spawn_rate: float

    def describe(self, rate_per_s: float | None = None) -> dict[str, Any]:
        """The `stage` object of an aggregate record (docs/results-format.md)."""
        return {"index": self.index, "users": self.users, "rate_per_s": rate_per_s}


@dataclass(frozen=True)
class StageTable:
    name: str
    description: str
    stages: tuple[Stage, ...]

    @property
    def duration_s(self) -> float:
        return sum(stage.duration_s for stage in self.stages)

    def at(self, elapsed_s: float) -> Stage | None:
        """The stage running `elapsed_s` after the start, or None once the table is done."""
        if elapsed_s < 0:
            return self.stages[0]
        end = 0.0
        for stage in self.stages:
            end += stage.duration_s
            if elapsed_s < end:
                return stage
        return None

    def scaled(self, factor: float) -> StageTable:
        """The same table with every duration multiplied by `factor` (short CI runs)."""
        if factor <= 0:
            raise StageError(f"time scale must be > 0, got {factor}")
        stages = tuple(
            Stage(s.index, s.duration_s * factor, s.users, s.spawn_rate) for s in self.stages
        )
        return StageTable(self.name, self.description, stages)


def _number(row: Mapping[str, Any], key: str, where: str, *, minimum: float) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise StageError(f"{where}: {key}: expected a number >= {minimum}, got {value!r}")
    return float(value)


def table_from_dict(name: str, data: object, *, origin: str = "<stages>") -> StageTable:
    where = f"{origin}: {name}"
    if not isinstance(data, Mapping):
        raise StageError(f"{where}: expected a mapping with a `stages` list")
    rows = data.get("stages")
    if not isinstance(rows, list) or not rows:
        raise StageError(f"{where}: stages: expected a non-empty list")
    stages = []
    for index, row in enumerate(rows):
        at = f"{where}: stages[{index}]"
        if not isinstance(row, Mapping):
            raise StageError(f"{at}: expected a mapping of duration_s, users, spawn_rate")
        duration = _number(row, "duration_s", at, minimum=0)
        users = _number(row, "users", at, minimum=0)
        if users != int(users):
            raise StageError(f"{at}: users: expected a whole number, got {users}")
        spawn_rate = _number(row, "spawn_rate", at, minimum=0)
        if duration <= 0 or spawn_rate <= 0:
            raise StageError(f"{at}: duration_s and spawn_rate must be > 0")
        stages.append(Stage(index, duration, int(users), spawn_rate))
    return StageTable(name, str(data.get("description", "")), tuple(stages))


def tables_from_str(text: str, *, origin: str = "<stages>") -> dict[str, StageTable]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StageError(f"{origin}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, Mapping) or not data:
        raise StageError(f"{origin}: expected a mapping of shape name to stage table")
    return {
        str(name): table_from_dict(str(name), body, origin=origin) for name, body in data.items()
    }


def load_tables(path: str | Path | None = None) -> dict[str, StageTable]:
    """The built-in tables, or the ones in `path` (`--st-stages`)."""
    if path is None:
        text = resources.files("loadtests").joinpath(BUILTIN_TABLES).read_text(encoding="utf-8")
        return tables_from_str(text, origin=f"built-in {BUILTIN_TABLES}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise StageError(f"{path}: cannot read stage table: {exc.strerror or exc}") from None
    return tables_from_str(text, origin=str(path))


def select(tables: Mapping[str, StageTable], name: str) -> StageTable:
    try:
        return tables[name]
    except KeyError:
        raise StageError(
            f"no stage table named {name!r}; choose one of {', '.join(sorted(tables))}"
        ) from None


def progress_line(table: StageTable, stage: Stage, elapsed_s: float) -> str:
    """The headless progress line printed as a stage begins: `stage 2 of 6: 20 users, 600 s left`.

    `left` is what remains of the whole table from this stage's scheduled start
    (the shape ticks once a second, so the tick itself may come a little later).
    """
    started = sum(s.duration_s for s in table.stages[: stage.index])
    left = max(table.duration_s - max(started, elapsed_s - 1.0), 0.0)
    position = f"stage {stage.index + 1} of {len(table.stages)}"
    return f"{position}: {stage.users} users, {_seconds(left)} s left"


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


def bucket_width(
    table: StageTable | None, configured_s: float | None, *, default_s: float
) -> float:
    """The results bucket width for a run of `table` (already time-scaled).

    A bucket never spans a stage change (the book restarts its grid at each
    one), but a bucket longer than a stage would make that stage one short
    bucket among long ones: a configured width above the shortest stage is
    refused. Left unset, the width is the largest that divides the shortest
    stage and does not exceed `default_s` (10 s: 10 for the built-in tables,
    3 s for `step` at `--st-time-scale 0.025`).
    """
    if table is None:
        return configured_s or default_s
    shortest = min(table.stages, key=lambda s: s.duration_s)
    if configured_s is None:
        return shortest.duration_s / math.ceil(shortest.duration_s / default_s - 1e-9)
    if configured_s > shortest.duration_s + 1e-9:
        raise StageError(
            f"--st-bucket-s {configured_s:g} is longer than stage {shortest.index + 1} of "
            f"{table.name} ({shortest.duration_s:g} s as scaled): give --st-bucket-s <= "
            f"{shortest.duration_s:g}, or leave it out to fit the stages"
        )
    return configured_s


class StageLog:
    """When each stage began (wall clock), so a results bucket can name its stage.

    Each change also starts a new bucket in the `LatencyBook` (`new_segment`,
    same time), so a bucket lies within one stage: it is the stage in force at
    the bucket's start.
    """

    def __init__(self) -> None:
        self._changes: list[tuple[float, dict[str, Any] | None]] = []

    def note(self, now_s: float, stage: dict[str, Any] | None) -> bool:
        """Record the stage in force at `now_s`; True when it is a change."""
        if not self._changes or self._changes[-1][1] != stage:
            self._changes.append((now_s, stage))
            return True
        return False

    @property
    def changes(self) -> int:
        return len(self._changes)

    def for_bucket(self, start_s: float, width_s: float = 0.0) -> dict[str, Any] | None:
        """The stage in force at `start_s` (the first stage for requests before the first tick)."""
        if not self._changes:
            return None
        best = self._changes[0][1]
        for since, stage in self._changes:
            if since <= start_s + 1e-6:
                best = stage
            else:
                break
        return best
