"""What one Locust process shares between its users and its event hooks.

Locust builds users itself, so they cannot be handed their settings; they
look them up here by their environment. One `ProcessState` per environment
(one per process in practice), replaced at each test start.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loadtests.latency import LatencyBook, Segment
from loadtests.settings import Settings
from loadtests.stages import StageLog, StageTable
from loadtests.traffic import OPERATOR_MIX, Call, read_only

if TYPE_CHECKING:
    from locust.env import Environment


class Token:
    """The JWT, kept out of every repr, log line and report."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._value}"}

    def __repr__(self) -> str:
        return "Token(<redacted>)"

    __str__ = __repr__


@dataclass
class ProcessState:
    settings: Settings
    token: Token
    book: LatencyBook
    operator_mix: tuple[Call, ...] = field(default=OPERATOR_MIX)
    auth_headers: dict[str, str] = field(default_factory=dict)
    operator_cum_weights: list[int] = field(default_factory=list)
    dispatchers: int = 1  # open-model dispatchers sharing the rate, across all processes
    table: StageTable | None = None
    stage_log: StageLog = field(default_factory=StageLog)
    # called on each stage change with (segment, progress line or None): print, tell workers
    stage_listeners: list[Callable[[Segment, str | None], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.auth_headers = self.token.header()
        if self.settings.read_only:
            self.operator_mix = read_only(self.operator_mix)
        self.operator_cum_weights = list(itertools.accumulate(c.weight for c in self.operator_mix))

    def enter_stage(self, now_s: float, stage: dict[str, Any] | None, line: str | None) -> bool:
        """The shape's tick: note the stage; on a change start a new bucket there."""
        if not self.stage_log.note(now_s, stage):
            return False
        segment = self.book.new_segment(now_s)
        for listener in self.stage_listeners:
            listener(segment, line)
        return True


_STATES: weakref.WeakKeyDictionary[Environment, ProcessState] = weakref.WeakKeyDictionary()


def attach(environment: Environment, state: ProcessState) -> None:
    _STATES[environment] = state


def of(environment: Environment) -> ProcessState | None:
    return _STATES.get(environment)


_SHAPE_START: weakref.WeakKeyDictionary[Environment, Callable[[], object]] = (
    weakref.WeakKeyDictionary()
)


def on_shape_start(environment: Environment, hook: Callable[[], object]) -> None:
    """Run `hook` as a shape starts, before its first tick (the web UI's form applies then)."""
    _SHAPE_START[environment] = hook


def shape_starting(environment: Environment) -> None:
    hook = _SHAPE_START.get(environment)
    if hook is not None:
        hook()
