"""The conforming server, in process: every endpoint, auth, rate limiting, scene paths."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refserver import scenepath
from refserver.app import API_ROUTES, PROTECTED_PATHS, create_app
from refserver.config import Settings
from refserver.state import ServerState

JSON_TYPE = "application/json"


def _error_body(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert set(body) == {"error", "message"}
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    return dict(body)


# --- endpoints ---------------------------------------------------------------


def test_every_endpoint_answers_json_200(harness: Any) -> None:
    for method, path in API_ROUTES:
        kwargs: dict[str, Any] = {}
        if path == "/scene" and method in ("POST", "PUT"):
            kwargs["json"] = {"scene_path": "res://scenes/lobby.tscn"}
        response = harness.request(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.text)
        assert response.headers["content-type"] == JSON_TYPE
        assert isinstance(response.json(), dict)


def test_scene_lifecycle(harness: Any) -> None:
    current = harness.get("/scene").json()
    assert current["scene_path"] == "res://vr_main.tscn"
    assert current["name"] == "vr_main"
    assert isinstance(current["loaded_at"], float)

    loaded = harness.post_scene("res://scenes/levels/level_01.tscn")
    assert loaded.json() == {"status": "loaded", "scene_path": "res://scenes/levels/level_01.tscn"}
    assert harness.get("/scene").json()["name"] == "level_01"

    reloaded = harness.request("POST", "/scene/reload")
    assert reloaded.json() == {
        "status": "reloaded",
        "scene_path": "res://scenes/levels/level_01.tscn",
    }

    validated = harness.post_scene("res://scenes/lobby.tscn", method="PUT")
    assert validated.json() == {"valid": True, "scene_path": "res://scenes/lobby.tscn"}
    assert harness.get("/scene").json()["name"] == "level_01"  # PUT does not load

    history = harness.get("/scene/history").json()["history"]
    assert [e["scene_path"] for e in history] == [
        "res://vr_main.tscn",
        "res://scenes/levels/level_01.tscn",
        "res://scenes/levels/level_01.tscn",
    ]
    for entry in history:
        assert set(entry) == {"scene_path", "loaded_at", "duration_ms", "success"}
        assert entry["success"] is True
        assert isinstance(entry["duration_ms"], float)


def test_lists_and_empty_collections(harness: Any) -> None:
    assert harness.get("/scenes").json() == {
        "scenes": [
            "res://vr_main.tscn",
            "res://scenes/lobby.tscn",
            "res://scenes/levels/level_01.tscn",
        ]
    }
    assert harness.get("/webhooks").json() == {"webhooks": []}
    assert harness.get("/jobs").json() == {"jobs": [], "queue_length": 0}


def test_performance_document_has_every_seed_field(harness: Any) -> None:
    doc = harness.get("/performance").json()
    assert isinstance(doc["timestamp"], float)
    assert doc["cache"] == {
        "hit_rate": 0.85,
        "miss_rate": 0.15,
        "total_size_bytes": 1048576,
        "entry_count": 42,
        "eviction_count": 5,
    }
    assert set(doc["security"]) == {
        "rate_limit_violations",
        "auth_failures",
        "active_tokens",
        "blocked_ips",
    }
    assert doc["security"]["blocked_ips"] == []
    assert doc["memory"] == {
        "static_memory_usage": 524288000,
        "static_memory_max": 536870912,
        "dynamic_memory_usage": 1048576,
    }
    assert doc["engine"]["fps"] == 90.0
    assert set(doc["engine"]) == {
        "fps",
        "process_time",
        "physics_process_time",
        "objects_in_use",
        "resources_in_use",
        "nodes_in_use",
    }


def test_security_counters_count_auth_failures_and_429s(make_harness: Any) -> None:
    h = make_harness(burst=3, rate_per_second=1)
    h.get("/jobs", authorized=False)
    h.get("/jobs", authorized=False)
    h.get("/performance")
    h.get("/performance")
    security = h.get("/performance", peer=("10.0.0.9", 1)).json()["security"]
    assert security["auth_failures"] == 2
    assert security["rate_limit_violations"] == 1


def test_status_needs_no_auth(harness: Any) -> None:
    doc = harness.get("/status", authorized=False).json()
    assert doc["overall_ready"] is True
    for key, port in (("debug_adapter", 6006), ("language_server", 6005)):
        service = doc[key]
        assert set(service) == {"service_name", "port", "state", "retry_count", "last_activity"}
        assert (service["port"], service["state"], service["retry_count"]) == (port, 2, 0)
        assert isinstance(service["last_activity"], float)


def test_manager_health(harness: Any) -> None:
    response = harness.get("/health", manager=True, authorized=False)
    assert response.status_code == 200
    doc = response.json()
    assert doc["overall_healthy"] is True and doc["blocking_issues"] == []
    assert doc["scene"] == {"loaded": True, "name": "vr_main"}
    assert doc["godot_process"]["running"] is True
    assert isinstance(doc["godot_process"]["pid"], int)
    assert doc["godot_api"] == {"reachable": True} and doc["player"] == {"spawned": True}
    assert doc["server"] == "healthy"
    assert "T" in doc["timestamp"]
    harness.post_scene("res://scenes/lobby.tscn")
    assert harness.get("/health", manager=True).json()["scene"]["name"] == "lobby"


def test_manager_unknown_path_and_method(harness: Any) -> None:
    assert harness.get("/nope", manager=True).status_code == 404
    assert harness.request("POST", "/health", manager=True).status_code == 405


# --- 404 / 405 ---------------------------------------------------------------


def test_unknown_path_404_json(harness: Any) -> None:
    response = harness.get("/admin", authorized=False)
    assert response.status_code == 404
    assert _error_body(response)["error"] == "not_found"
    assert harness.get("/scene/", authorized=True).status_code == 404


def test_wrong_method_405_json_after_auth(harness: Any) -> None:
    response = harness.request("DELETE", "/scene")
    assert response.status_code == 405
    _error_body(response)
    assert "POST" in response.headers["allow"]
    unauthenticated = harness.request("DELETE", "/scene", authorized=False)
    assert unauthenticated.status_code == 401
    assert harness.request("POST", "/status", authorized=False).status_code == 405


# --- auth --------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [r for r in API_ROUTES if r[1] in PROTECTED_PATHS])
def test_every_protected_route_demands_a_token(harness: Any, method: str, path: str) -> None:
    response = harness.request(method, path, authorized=False, json={"scene_path": "res://a.tscn"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="spacetime"'
    assert _error_body(response)["error"] == "unauthorized"


def test_bad_tokens_get_401_with_invalid_token_challenge(harness: Any, forge: Any) -> None:
    claims = forge.claims()
    header, payload, signature = harness.token.split(".")
    bad = [
        forge.signed(claims, b"k" * 64),
        forge.unsigned(claims, "none"),
        f"{header}.{payload}.",
        f"{header}.{payload}.{signature[:8]}",
        "a.b.c",
        forge.signed(forge.claims(exp=int(time.time()) - 1), harness.state.secret),
    ]
    for token in bad:
        response = harness.get("/performance", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == (
            'Bearer realm="spacetime", error="invalid_token"'
        )
        assert token not in response.text
        assert "fps" not in response.text


@pytest.mark.parametrize("scheme", ["Token", "Basic", "JWT"])
def test_other_schemes_are_401(harness: Any, scheme: str) -> None:
    response = harness.get("/jobs", headers={"Authorization": f"{scheme} {harness.token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="spacetime"'


def test_scheme_is_case_insensitive(harness: Any) -> None:
    assert harness.get("/jobs", headers={"Authorization": f"bearer {harness.token}"}).is_success


def test_state_token_verifies_with_iss_and_exp(harness: Any) -> None:
    import jwt

    claims = jwt.decode(
        harness.token, harness.state.secret, algorithms=["HS256"], issuer="spacetime"
    )
    assert claims["exp"] - claims["iat"] == 86400


# --- rate limit --------------------------------------------------------------


def test_burst_then_429_with_retry_after_then_recovery(make_harness: Any) -> None:
    h = make_harness(burst=5, rate_per_second=0.5)
    statuses = [h.get("/jobs").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = h.get("/jobs")
    assert refused.headers["retry-after"] == "2"
    assert _error_body(refused)["error"] == "rate_limited"
    h.clock.advance(int(refused.headers["retry-after"]))
    assert h.get("/jobs").status_code == 200


def test_rate_limit_counts_unauthenticated_and_unknown_paths_before_auth(make_harness: Any) -> None:
    h = make_harness(burst=3, rate_per_second=1)
    assert h.get("/jobs", authorized=False).status_code == 401
    assert h.get("/nope", authorized=False).status_code == 404
    assert h.get("/status", authorized=False).status_code == 200
    assert h.get("/jobs", authorized=False).status_code == 429


def test_manager_is_not_rate_limited(make_harness: Any) -> None:
    h = make_harness(burst=1, rate_per_second=0.1)
    assert all(h.get("/health", manager=True).status_code == 200 for _ in range(5))


def test_xff_ignored_unless_peer_is_trusted(make_harness: Any) -> None:
    h = make_harness(burst=1, rate_per_second=0.1)
    assert h.get("/jobs").status_code == 200
    spoofed = h.get("/jobs", headers={"X-Forwarded-For": "203.0.113.7"})
    assert spoofed.status_code == 429

    proxied = make_harness(burst=1, rate_per_second=0.1, trusted_proxies=frozenset({"10.0.0.1"}))
    via = ("10.0.0.1", 4000)
    for client in ("203.0.113.7", "203.0.113.8"):
        headers = {"X-Forwarded-For": f"1.2.3.4, {client}"}
        assert proxied.get("/jobs", peer=via, headers=headers).status_code == 200
    again = {"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}
    assert proxied.get("/jobs", peer=via, headers=again).status_code == 429


# --- scene paths -------------------------------------------------------------

INVALID_PATHS = [
    "res://../etc/passwd.tscn",
    "res://scenes/../vr_main.tscn",
    "res://%2e%2e/%2e%2e/etc/passwd.tscn",
    "res://%252e%252e/etc/passwd.tscn",
    "res://．．／etc/passwd.tscn",
    "res://scenes\\..\\vr_main.tscn",
    "res:///etc/passwd.tscn",
    "res://scenes/lobby.tscn%00",
    "res://scenes/lobby.tscn\x00.tscn",
    "res://%c0%ae%c0%ae/etc/passwd.tscn",
    "res://scenes/lobby.tscn.bak",
    "res://scenes/ lobby.tscn",
    "/etc/passwd",
    "file:///etc/passwd.tscn",
    "res://./vr_main.tscn",
    "res://" + "a" * 260 + ".tscn",
    "",
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("path", INVALID_PATHS)
def test_invalid_scene_paths_get_400(harness: Any, method: str, path: str) -> None:
    response = harness.post_scene(path, method=method)
    assert response.status_code == 400
    body = _error_body(response)
    assert body["error"] == "invalid_scene_path"
    assert "root:" not in response.text


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_valid_unknown_scene_404(harness: Any, method: str) -> None:
    response = harness.post_scene("res://scenes/missing.tscn", method=method)
    assert response.status_code == 404
    assert _error_body(response)["error"] == "scene_not_found"


def test_percent_encoded_known_scene_loads_the_decoded_path(harness: Any) -> None:
    response = harness.post_scene("res://scenes/lobby%2Etscn")
    assert response.json() == {"status": "loaded", "scene_path": "res://scenes/lobby.tscn"}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"path": "res://a.tscn"}', b'{"scene_path": 3}', b"", b"\xff"],
)
def test_malformed_bodies_get_400(harness: Any, body: bytes) -> None:
    response = harness.request("POST", "/scene", content=body)
    assert response.status_code == 400
    _error_body(response)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_lone_surrogate_is_400_not_a_crash(harness: Any, method: str) -> None:
    body = b'{"scene_path": "res://scenes/lobby\\ud800.tscn"}'
    response = harness.request(method, "/scene", content=body)
    assert response.status_code == 400
    assert _error_body(response)["error"] == "invalid_scene_path"


def test_oversized_body_is_413(harness: Any) -> None:
    response = harness.request("POST", "/scene", content=b"{" + b" " * 70_000 + b"}")
    assert response.status_code == 413
    _error_body(response)


def test_history_keeps_the_last_100(make_harness: Any) -> None:
    h = make_harness(burst=500)
    for _ in range(110):
        h.request("POST", "/scene/reload")
    assert len(h.get("/scene/history").json()["history"]) == 100


# --- latency and request log -------------------------------------------------


def test_base_latency_is_added(make_harness: Any) -> None:
    h = make_harness(latency_ms=150)
    started = time.perf_counter()
    h.get("/status", authorized=False)
    assert time.perf_counter() - started >= 0.15


def test_request_log_lines(make_harness: Any, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    h = make_harness(request_log=log)
    h.get("/jobs", authorized=False)
    h.post_scene("res://scenes/lobby.tscn")
    h.get("/scenes?x=1")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["method"], r["path"], r["status"]) for r in lines] == [
        ("GET", "/jobs", 401),
        ("POST", "/scene", 200),
        ("GET", "/scenes", 200),
    ]
    assert all(set(r) == {"ts", "client", "method", "path", "status"} for r in lines)
    assert lines[0]["client"] == "127.0.0.1"
    assert h.token not in log.read_text()


def test_concurrent_requests_share_state(harness: Any) -> None:
    async def burst() -> list[int]:
        responses = await asyncio.gather(*(harness.arequest("GET", "/jobs") for _ in range(20)))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 20


# --- robustness --------------------------------------------------------------


class _Fuzz:
    """One unlimited conforming app shared by hypothesis examples (no fixtures in @given)."""

    def __init__(self) -> None:
        self.state = ServerState.create(Settings(burst=10**9, rate_per_second=1e9))
        self.app = create_app(self.state.settings, self.state)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def post_scene(self, raw: str, method: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.state.token}"}
        return self.request(method, "/scene", json={"scene_path": raw}, headers=headers)


_FUZZ = _Fuzz()

PATH_PIECES = st.sampled_from(
    ["res://", "scenes", "/", "\\", ".", "..", "%", "%2e", "%25", "%c0%ae", "%00", "．", "／"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=st.one_of(st.text(max_size=80), st.lists(PATH_PIECES, max_size=12).map("".join)),
    method=st.sampled_from(["POST", "PUT"]),
)
def test_conforming_never_crashes_and_never_loads_an_invalid_path(raw: str, method: str) -> None:
    response = _FUZZ.post_scene(raw, method=method)
    verdict = scenepath.check(raw)
    if verdict.valid:
        assert response.status_code in (200, 404)
    else:
        assert response.status_code == 400


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_arbitrary_authorization_headers_are_401(header: str) -> None:
    response = _FUZZ.request("GET", "/jobs", headers={"Authorization": header})
    assert response.status_code == 401
