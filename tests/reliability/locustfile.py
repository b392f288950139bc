"""A reader of every GET endpoint at a fixed rate: the reference server's load self-test.

Run by tests/reliability/test_refserver_load.py as a subprocess (never
imported into pytest: gevent's monkey-patching breaks xdist). Settings
come from the environment: RELIABILITY_TOKEN_FILE, RELIABILITY_USER_RATE
(requests per second per user). Every answer is sorted into one of the
failure names the test counts: "429 with Retry-After" (the limiter
working), "429 without Retry-After", "5xx <status>", "transport: <error>"
and "unexpected <status>".
"""

import itertools
import os
from pathlib import Path

from locust import FastHttpUser, constant_throughput, task

TOKEN = Path(os.environ["RELIABILITY_TOKEN_FILE"]).read_text().strip()
RATE = float(os.environ.get("RELIABILITY_USER_RATE", "10"))
PATHS = ("/scenes", "/scene", "/performance", "/jobs", "/webhooks", "/scene/history", "/status")


class Reader(FastHttpUser):
    wait_time = constant_throughput(RATE)

    def on_start(self) -> None:
        self.paths = itertools.cycle(PATHS)

    @task
    def read(self) -> None:
        path = next(self.paths)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with self.client.get(path, headers=headers, name=path, catch_response=True) as response:
            status = response.status_code
            if status == 200:
                response.success()
            elif status == 429:
                retry_after = response.headers.get("Retry-After", "")
                with_header = retry_after.isdigit()
                response.failure(
                    "429 with Retry-After" if with_header else "429 without Retry-After"
                )
            elif not status:
                response.failure(f"transport: {type(response.error).__name__}")
            elif status >= 500:
                response.failure(f"5xx {status}")
            else:
                response.failure(f"unexpected {status}")
