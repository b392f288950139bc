"""Locust users that behave like the SpaceTime API's real clients (seeds 000 and 001).

| user | what it does | pace | count |
|---|---|---|---|
| `ScraperUser` | Prometheus scraping `GET /performance` | every 15 s | 1 |
| `HealthMonitorUser` | `monitoring/health_monitor.py` polling `GET /performance` | every 30 s | 1 |
| `ContainerHealthcheckUser` | Docker HEALTHCHECK, manager `GET /health` | every 30 s | 1 |
| `OperatorUser` | lists, validates, loads scenes, reads history | 2-10 s think | the rest |

There is one Prometheus and one health monitor per deployment, hence
`fixed_count = 1`; load grows with operators. `--st-think-scale` multiplies
every pause (0 = back to back, for saturation runs). A 429 is its own outcome:
reported to Locust as a success under `<endpoint> [429]` (so it is neither
hidden in the endpoint's latency nor counted as an API failure) and the user
waits out its Retry-After before its next request. Every request a user sends
through `send` is recorded exactly (latency.py); a request made otherwise
(`self.client.get` in a task added by hand) is in Locust's stats only.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

from locust import task
from locust.contrib.fasthttp import FastHttpUser

from loadtests import state
from loadtests.traffic import MANAGER_HEALTH, SCRAPE, Call, Outcome, classify, retry_after_s


class SpaceTimeUser(FastHttpUser):
    """Base: authenticated calls, outcome classification, Retry-After, paced waits."""

    abstract = True
    network_timeout = 30.0
    connection_timeout = 10.0
    max_retries = 0
    pace_s: ClassVar[float | None] = None  # fixed period between task starts
    think_s: ClassVar[tuple[float, float]] = (0.0, 0.0)  # random pause otherwise

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        found = state.of(environment)
        if found is None:
            raise RuntimeError("loadtests: users need the plugin's state (run loadtests/api.py)")
        self.st = found
        self._not_before = 0.0
        self._next_tick = 0.0

    def wait_time(self) -> float:
        """The class's pace or think time, scaled, but never before Retry-After has passed."""
        now = time.time()
        scale = self.st.settings.think_scale
        if self.pace_s is not None:
            if not self._next_tick:
                self._next_tick = now
            self._next_tick = max(self._next_tick + self.pace_s * scale, now)
            pause = self._next_tick - now
        else:
            pause = random.uniform(*self.think_s) * scale
        return max(pause, self._not_before - now)

    def send(self, call: Call, url: str | None = None, *, intended_s: float | None = None) -> None:
        """One request: judged by the call's expected status, and recorded exactly.

        The exact latency is recorded here, from Locust's own measurement, rather
        than in a `request` event listener: one handler call less per request is
        a measurable share of a saturated Locust process. `intended_s` (open
        model) is when the request was due; its latency is then measured from
        that time as well as from when it left.
        """
        st = self.st
        body = call.body(random.choice(st.settings.scenes)) if call.scene_body else None
        with self.client.request(
            call.method,
            url or call.endpoint,
            name=call.endpoint,
            headers=st.auth_headers if call.auth else None,
            json=body,
            catch_response=True,
        ) as response:
            status = response.status_code
            outcome = classify(status, call.expected)
            if outcome is Outcome.OK:
                response.success()
            elif outcome is Outcome.RATE_LIMITED:
                response.success()
                response.request_meta["name"] = f"{call.endpoint} [429]"
                wait = retry_after_s(response.headers.get("Retry-After"), time.time())
                self._not_before = max(self._not_before, time.time() + wait)
            elif outcome is not Outcome.NO_RESPONSE:
                response.failure(f"HTTP {status} from {call.key}")
            meta = response.request_meta
            st.book.record_sent(
                call.method, call.endpoint, meta["start_time"], meta["response_time"], outcome,
                intended_s=intended_s,
            )  # fmt: skip


class ScraperUser(SpaceTimeUser):
    """Prometheus: `spacetime-http-api` job, 15 s scrape interval (seed 000)."""

    fixed_count = 1
    pace_s = 15.0

    @task
    def scrape(self) -> None:
        self.send(SCRAPE)


class HealthMonitorUser(SpaceTimeUser):
    """`health_monitor.py --interval 30`, whose default endpoint is /performance (seed 000)."""

    fixed_count = 1
    pace_s = 30.0

    @task
    def poll(self) -> None:
        self.send(SCRAPE)


class ContainerHealthcheckUser(SpaceTimeUser):
    """Docker `HEALTHCHECK --interval=30s`: curl the manager's /health (seed 001)."""

    fixed_count = 1
    pace_s = 30.0

    @task
    def check(self) -> None:
        # Without a manager URL the shape never spawns this user; if picked by hand, idle.
        if self.st.settings.manager_url is not None:
            url = f"{self.st.settings.manager_url}{MANAGER_HEALTH.endpoint}"
            self.send(MANAGER_HEALTH, url)


class OperatorUser(SpaceTimeUser):
    """A person or script at the API: mostly reads, sometimes validates, rarely loads."""

    weight = 10
    think_s = (2.0, 10.0)

    @task
    def operate(self) -> None:
        st = self.st
        self.send(random.choices(st.operator_mix, cum_weights=st.operator_cum_weights)[0])
