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
from loadtests.users import ContainerHealthcheckUser

Tick = tuple[int, float, list[type[User]]] | None


class SpaceTimeShape(LoadTestShape):
    use_common_options = True

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
            st.stage_log.note(
                now, {"index": 0, "users": users, "rate_per_s": settings.open_model.rate_per_s}
            )
            return users, float(users), [ArrivalUser]
        closed = [
            c
            for c in environment.user_classes
            if c is not ArrivalUser
            and not (c is ContainerHealthcheckUser and settings.manager_url is None)
        ]
        if st.table is not None:
            stage = st.table.at(self.get_run_time())
            if stage is None:
                return None
            st.stage_log.note(now, stage.describe())
            return stage.users, stage.spawn_rate, closed
        options = environment.parsed_options
        users = int(getattr(options, "num_users", None) or 1)
        spawn_rate = float(getattr(options, "spawn_rate", None) or 1)
        st.stage_log.note(now, None)
        return users, spawn_rate, closed
