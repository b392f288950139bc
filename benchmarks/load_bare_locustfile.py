"""Baseline for benchmarks/load_throughput.py: a bare FastHttpUser sending the operator mix.

The same requests, weights and headers as `loadtests.users.OperatorUser` at
`--st-think-scale 0`, with none of the profiles' machinery (outcome rules,
exact histograms, results, thresholds): the ratio of the two throughputs is
what that machinery costs. Run as `locust -f benchmarks/load_bare_locustfile.py`;
the JWT comes from the file named by BARE_TOKEN_FILE.
"""

import os
import random
from pathlib import Path

from locust import task
from locust.contrib.fasthttp import FastHttpUser

_TOKEN = Path(os.environ.get("BARE_TOKEN_FILE", "jwt_token.txt")).read_text().strip()
_HEADERS = {"Authorization": f"Bearer {_TOKEN}"}
# method, path, weight, body (mirrors loadtests.traffic.OPERATOR_MIX)
_MIX = [
    ("GET", "/scenes", 6, None),
    ("GET", "/scene", 4, None),
    ("GET", "/scene/history", 3, None),
    ("PUT", "/scene", 3, {"scene_path": "res://vr_main.tscn"}),
    ("POST", "/scene", 1, {"scene_path": "res://vr_main.tscn"}),
    ("POST", "/scene/reload", 1, None),
    ("GET", "/status", 1, None),
]
_WEIGHTS = [weight for _, _, weight, _ in _MIX]


class BareUser(FastHttpUser):
    @task
    def operate(self) -> None:
        method, path, _, body = random.choices(_MIX, weights=_WEIGHTS)[0]
        self.client.request(method, path, headers=_HEADERS, json=body)
