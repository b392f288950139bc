"""The conforming service time: the draw (pure, seeded), its options, and where it applies.

The draw is checked through an injected ``random.Random``, never by timing;
the few timed tests only assert lower bounds (the delay was at least waited).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest

from refserver.__main__ import build_parser
from refserver.app import create_app, create_manager_app
from refserver.config import ConfigError, Settings, settings_from
from refserver.middleware import LatencyMiddleware
from refserver.servicetime import ServiceTime
from refserver.state import ServerState


def _settings(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return settings_from(vars(build_parser().parse_args(argv)), env or {})


class Fixed(random.Random):
    """A ``Random`` whose draws are chosen by the test: ``random()`` and ``uniform`` results."""

    def __init__(self, picks: float, offset: float = 0.0) -> None:
        super().__init__(0)
        self.picks, self.offset = picks, offset
        self.calls: list[str] = []

    def random(self) -> float:
        self.calls.append("random")
        return self.picks

    def uniform(self, a: float, b: float) -> float:
        self.calls.append("uniform")
        assert (a, b) == (-abs(b), abs(b))
        return self.offset


# --- the draw -----------------------------------------------------------------


def test_base_only_draws_nothing() -> None:
    rng = Fixed(0.0)
    assert ServiceTime(base_ms=90).draw_ms(rng) == 90
    assert rng.calls == []
    assert ServiceTime().idle and not ServiceTime(jitter_ms=5).idle


def test_jitter_is_added_to_the_base_and_floored_at_zero() -> None:
    model = ServiceTime(base_ms=10, jitter_ms=20)
    assert model.draw_ms(Fixed(0.0, offset=15.0)) == 25
    assert model.draw_ms(Fixed(0.0, offset=-18.0)) == 0.0  # 10 - 18, floored


def test_tail_replaces_the_base_and_takes_no_jitter() -> None:
    model = ServiceTime(base_ms=90, jitter_ms=20, tail_ratio=0.05, tail_ms=400)
    tail = Fixed(0.049, offset=19.0)
    assert model.draw_ms(tail) == 400
    assert tail.calls == ["random"]
    body = Fixed(0.05, offset=19.0)  # random() < ratio is the tail: 0.05 is not
    assert model.draw_ms(body) == 109
    assert body.calls == ["random", "uniform"]


def test_tail_share_is_drawn_as_configured_with_a_fixed_seed() -> None:
    model = ServiceTime(base_ms=90, jitter_ms=20, tail_ratio=0.04, tail_ms=400)
    rng = random.Random(7)
    draws = [model.draw_ms(rng) for _ in range(20_000)]
    tail_share = sum(d == 400 for d in draws) / len(draws)
    assert 0.035 <= tail_share <= 0.045  # binomial sd 0.0014: +-3.5 sd
    body = [d for d in draws if d != 400]
    assert min(body) >= 70 and max(body) <= 110
    assert 89 <= sum(body) / len(body) <= 91
    again = random.Random(7)
    assert [model.draw_ms(again) for _ in range(20_000)] == draws


@pytest.mark.parametrize(("ratio", "tails"), [(0.0, 0), (1.0, 500)])
def test_ratio_bounds_mean_never_and_always(ratio: float, tails: int) -> None:
    model = ServiceTime(base_ms=5, tail_ratio=ratio, tail_ms=300)
    rng = random.Random(1)
    assert sum(model.draw_ms(rng) == 300 for _ in range(500)) == tails


# --- options ---------------------------------------------------------------------


def test_options_from_cli_and_environment() -> None:
    s = _settings(
        ["--latency-ms", "90", "--latency-jitter-ms", "20"],
        {
            "REFSERVER_LATENCY_TAIL_RATIO": "0.03",
            "REFSERVER_LATENCY_TAIL_MS": "400",
            "REFSERVER_LATENCY_SEED": "42",
            "REFSERVER_LATENCY_JITTER_MS": "5",
        },
    )
    assert s.service_time() == ServiceTime(90, 20, 0.03, 400)
    assert s.latency_seed == 42
    defaults = _settings([])
    assert defaults.service_time() == ServiceTime() and defaults.latency_seed is None


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        ([], {"REFSERVER_LATENCY_JITTER_MS": "-1"}, "REFSERVER_LATENCY_JITTER_MS"),
        ([], {"REFSERVER_LATENCY_TAIL_RATIO": "1.5"}, "from 0 to 1"),
        ([], {"REFSERVER_LATENCY_TAIL_RATIO": "x"}, "REFSERVER_LATENCY_TAIL_RATIO"),
        ([], {"REFSERVER_LATENCY_TAIL_MS": "inf"}, "REFSERVER_LATENCY_TAIL_MS"),
        ([], {"REFSERVER_LATENCY_SEED": "-3"}, "REFSERVER_LATENCY_SEED"),
        (["--latency-tail-ratio", "0.1"], {}, "needs --latency-tail-ms"),
    ],
)
def test_bad_values_are_one_line_config_errors(
    argv: list[str], env: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(argv, env)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_the_seed_makes_the_state_repeat_its_draws() -> None:
    settings = Settings(latency_ms=50, latency_jitter_ms=30, latency_seed=3)
    first, second = ServerState.create(settings), ServerState.create(settings)
    other = ServerState.create(replace(settings, latency_seed=4))
    try:
        draw = [first.service_time.draw_ms(first.rng) for _ in range(50)]
        assert draw == [second.service_time.draw_ms(second.rng) for _ in range(50)]
        assert draw != [other.service_time.draw_ms(other.rng) for _ in range(50)]
    finally:
        for state in (first, second, other):
            state.close()


# --- where it applies (lower bounds only) ---------------------------------------------


async def _timed_get(app: Any, path: str) -> float:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://refserver") as client:
        started = time.perf_counter()
        await client.get(path)
        return time.perf_counter() - started


def test_the_api_and_the_manager_wait_the_drawn_delay() -> None:
    """A ``random()`` of 0 picks the tail every time: both apps wait ``tail_ms``."""
    settings = Settings(latency_tail_ratio=0.5, latency_tail_ms=120)
    rng = Fixed(0.0)
    state = ServerState.create(settings, rng=rng)
    try:
        api, manager = create_app(settings, state), create_manager_app(settings, state)
        assert asyncio.run(_timed_get(api, "/status")) >= 0.12
        assert asyncio.run(_timed_get(api, "/jobs")) >= 0.12  # a 401 waits too
        assert asyncio.run(_timed_get(manager, "/health")) >= 0.12
        assert rng.calls == ["random"] * 3  # one draw per request, from the state's Random
    finally:
        state.close()


def test_latency_faults_stay_off_the_manager() -> None:
    """The manager's stage is built without the faults (timing it would need an upper bound)."""
    settings = Settings(latency_ms=40, faults=frozenset({"latency-slow-all", "latency-stall"}))
    state = ServerState.create(settings)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    try:
        api = LatencyMiddleware(app, state)
        manager = LatencyMiddleware(app, state, with_faults=False)
        assert (api.fault_seconds, api.stall) == (0.3, True)
        assert (manager.fault_seconds, manager.stall) == (0.0, False)
        assert manager.service_time == api.service_time == ServiceTime(base_ms=40)
    finally:
        state.close()
