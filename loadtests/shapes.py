"""The one load shape of `api.py`: its ticks walk a stage table, a constant arrival
rate, or plain `-u/-r`, as the `--st-*` options say.

Locust uses the first LoadTestShape it finds in a locustfile, so a single
class dispatches on `--st-shape` / `--st-open-rate`; the tables themselves are
data (`stages.yaml`, `stages.py`). `use_common_options` keeps `-u`, `-r` and
`-t` working (and the web UI's user fields) when no `--st-*` shape is asked for.
"""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.user import User

from loadtests import state
from loadtests.openmodel import ArrivalUser
from loadtests.stages import progress_line
from loadtests.users import ContainerHealthcheckUser

Tick = tuple[int, float, list[type[User]]] | None


class SpaceTimeShape(LoadTestShape):
    use_common_options = True

    def reset_time(self) -> None:
        """Locust calls this as the shape starts, before the first tick."""
        super().reset_time()
        runner = getattr(self, "runner", None)
        if runner is not None:
            state.shape_starting(runner.environment)

    def tick(self) -> Tick:
        runner = self.runner
        if runner is None:
            return None
        environment = runner.environment
        st = state.of(environment)
        if st is None:
            return None
        settings = st.settings
        now = time.time()
        # Locust starts its -t timer only after a shape ends, so the shape obeys -t itself.
        run_time = getattr(environment.parsed_options, "run_time", None)
        if run_time and self.get_run_time() >= run_time:
            return None
        if settings.open_model is not None:
            users = st.dispatchers
            rate = settings.open_model.rate_per_s
            st.enter_stage(now, {"index": 0, "users": users, "rate_per_s": rate}, None)
            return users, float(users), [ArrivalUser]
        closed = [
            c
            for c in environment.user_classes
            if c is not ArrivalUser
            and not (c is ContainerHealthcheckUser and settings.manager_url is None)
        ]
        if st.table is not None:
            elapsed = self.get_run_time()
            stage = st.table.at(elapsed)
            if stage is None:
                return None
            st.enter_stage(now, stage.describe(), progress_line(st.table, stage, elapsed))
            return stage.users, stage.spawn_rate, closed
        options = environment.parsed_options
        users = int(getattr(options, "num_users", None) or 1)
        spawn_rate = float(getattr(options, "spawn_rate", None) or 1)
        st.enter_stage(now, None, None)
        return users, spawn_rate, closed
