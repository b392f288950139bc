"""Every fault, proven both ways: its check passes with the fault and fails without it.

Each check below asserts the fault's observable effect through HTTP only.
Running the same check against the conforming server must raise
``AssertionError``, which shows the check really detects the fault rather
than something every server does.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from probes.payloads.jwt_attacks import Attacks, attacker_rsa_key, verifier_attacks
from refserver.faults import FAMILIES, FAULTS, UnknownFault, catalogue_lines, parse_faults

Check = Callable[[Any, Any], None]
CHECKS: dict[str, tuple[Check, dict[str, Any]]] = {}
PASSWD_LINE = "root:x:0:0:root:/root:/bin/bash"


def check(name: str, **settings: Any) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        CHECKS[name] = (fn, settings)
        return fn

    return register


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _leaks(response: Any) -> bool:
    return response.status_code == 200 and PASSWD_LINE in response.text


# --- auth --------------------------------------------------------------------


@check("auth-open-route")
def _(h: Any, forge: Any) -> None:
    assert h.get("/jobs", authorized=False).status_code == 200
    assert h.get("/webhooks", authorized=False).status_code == 401


@check("auth-skip-signature")
def _(h: Any, forge: Any) -> None:
    forged = forge.signed(forge.claims(sub="admin"), b"k" * 64)
    assert h.get("/performance", headers=_bearer(forged), authorized=False).status_code == 200


@check("auth-alg-none")
def _(h: Any, forge: Any) -> None:
    claims = forge.claims()
    lower = forge.unsigned(claims, "none")
    assert h.get("/jobs", headers=_bearer(lower), authorized=False).status_code == 401
    for alg in ("None", "NONE", "nOnE"):
        token = forge.unsigned(claims, alg)
        assert h.get("/jobs", headers=_bearer(token), authorized=False).status_code == 200


@check("auth-ignore-exp")
def _(h: Any, forge: Any) -> None:
    expired = forge.signed(forge.claims(exp=int(time.time()) - 60), h.state.secret)
    assert h.get("/jobs", headers=_bearer(expired), authorized=False).status_code == 200


@check("auth-no-challenge")
def _(h: Any, forge: Any) -> None:
    response = h.get("/jobs", authorized=False)
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers


@check("auth-leaky-401")
def _(h: Any, forge: Any) -> None:
    response = h.get("/performance", authorized=False)
    assert response.status_code == 401
    leaked = response.json()
    assert "engine" in leaked and leaked["engine"]["fps"] == 90.0


@check("auth-403")
def _(h: Any, forge: Any) -> None:
    assert h.get("/jobs", authorized=False).status_code == 401
    bad = forge.signed(forge.claims(), b"k" * 64)
    assert h.get("/jobs", headers=_bearer(bad), authorized=False).status_code == 403


@check("auth-any-scheme")
def _(h: Any, forge: Any) -> None:
    for scheme in ("Token", "Basic"):
        headers = {"Authorization": f"{scheme} {h.token}"}
        assert h.get("/jobs", headers=headers, authorized=False).status_code == 200


@check("auth-ignore-issuer")
def _(h: Any, forge: Any) -> None:
    assert jwt.decode(h.token, options={"verify_signature": False})["iss"] == "spacetime"
    for claims in (forge.claims("someone-else"), forge.claims(iss=None)):
        token = forge.signed(claims, h.state.secret)
        assert h.get("/jobs", headers=_bearer(token), authorized=False).status_code == 200


@check("auth-ignore-audience", audience="spacetime-api")
def _(h: Any, forge: Any) -> None:
    assert jwt.decode(h.token, options={"verify_signature": False})["aud"] == "spacetime-api"
    for claims in (forge.claims(aud="another-api"), forge.claims()):
        token = forge.signed(claims, h.state.secret)
        assert h.get("/jobs", headers=_bearer(token), authorized=False).status_code == 200


@check("auth-ignore-lifetime", max_token_lifetime_seconds=3600, token_ttl_seconds=600)
def _(h: Any, forge: Any) -> None:
    now = int(time.time())
    long_lived = forge.signed(forge.claims(iat=now - 10, exp=now + 86400), h.state.secret)
    assert h.get("/jobs", headers=_bearer(long_lived), authorized=False).status_code == 200


def _attack_status(h: Any, *names: str) -> dict[str, int]:
    """The status of GET /jobs for each named verifier attack (probes/payloads/jwt_attacks.py)."""
    cases = _verifier_attacks(h).by_name()
    statuses = {}
    for name in names:
        case = cases[name]
        headers = [("Authorization", value) for value in case.authorization]
        if case.cookie:
            headers.append(("Cookie", case.cookie))
        response = asyncio.run(_get(h, "/jobs", headers, dict(case.query)))
        statuses[name] = response.status_code
    return statuses


async def _get(
    h: Any, path: str, headers: list[tuple[str, str]], params: dict[str, str]
) -> httpx.Response:
    """A GET with headers as a list, so one name can repeat (the harness takes a dict)."""
    transport = httpx.ASGITransport(app=h.api, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://refserver") as client:
        return await client.get(path, headers=headers, params=params)


def _verifier_attacks(h: Any) -> Attacks:
    return verifier_attacks(
        h.token, secret=h.state.secret.decode(), now=time.time(), rsa_key=_rsa_key(),
        issuer=h.settings.issuer, audience=h.settings.audience,
        max_lifetime_s=h.settings.max_token_lifetime_seconds,
    )  # fmt: skip


@functools.cache
def _rsa_key() -> Any:
    return attacker_rsa_key()


def _all_pass(h: Any, *names: str) -> None:
    statuses = _attack_status(h, *names)
    assert statuses == dict.fromkeys(names, 200), statuses


@check("auth-trust-jwk")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "jwk-embedded-oct", "jwk-embedded-rsa")


@check("auth-key-url-fail-open")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "jku-attacker-url", "x5u-attacker-url")
    assert _attack_status(h, "jwk-embedded-rsa") == {"jwk-embedded-rsa": 401}


@check("auth-kid-path")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "kid-path-dev-null")
    assert _attack_status(h, "empty-key") == {"empty-key": 401}  # only through kid


@check("auth-kid-sql")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "kid-sql-union")


@check("auth-alg-from-header")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "alg-hs384", "alg-rs256-hmac", "alg-es256-hmac", "alg-missing", "alg-null",
              "alg-array", "alg-lowercase", "alg-trailing-space")  # fmt: skip


@check("auth-fallback-keys")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "empty-key", "weak-key-secret")
    assert _attack_status(h, "weak-key-password") == {"weak-key-password": 401}


@check("auth-lax-claim-types", max_token_lifetime_seconds=86400)
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "exp-string", "exp-boolean", "exp-overflow", "nbf-string", "nbf-boolean",
              "nbf-overflow", "exp-missing")  # fmt: skip
    assert _attack_status(h, "nbf-huge") == {"nbf-huge": 401}


@check("auth-ignore-crit")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "crit-unknown")


@check("auth-lax-base64")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "b64-padded-signature", "b64-standard-alphabet")
    assert _attack_status(h, "jws-json-serialization") == {"jws-json-serialization": 401}


@check("auth-token-in-query")
def _(h: Any, forge: Any) -> None:
    _all_pass(h, "query-access_token", "query-token", "query-jwt", "cookie-access_token",
              "cookie-token", "cookie-jwt")  # fmt: skip


@check("auth-first-authorization-header")
def _(h: Any, forge: Any) -> None:
    statuses = _attack_status(h, "duplicate-header-valid-first", "duplicate-header-bad-first")
    assert statuses == {"duplicate-header-valid-first": 200, "duplicate-header-bad-first": 401}


@check("auth-long-token-500")
def _(h: Any, forge: Any) -> None:
    assert set(_attack_status(h, "long-token-8k", "long-token-64k").values()) == {500}


# --- rate limit --------------------------------------------------------------


@check("ratelimit-503", burst=2, rate_per_second=1)
def _(h: Any, forge: Any) -> None:
    statuses = [h.get("/jobs").status_code for _ in range(3)]
    assert statuses == [200, 200, 503]
    assert "retry-after" not in h.get("/jobs").headers


@check("ratelimit-none", burst=2, rate_per_second=1)
def _(h: Any, forge: Any) -> None:
    assert all(h.get("/jobs").status_code == 200 for _ in range(10))


@check("ratelimit-no-retry-after", burst=2, rate_per_second=1)
def _(h: Any, forge: Any) -> None:
    responses = [h.get("/jobs") for _ in range(3)]
    assert responses[-1].status_code == 429
    assert "retry-after" not in responses[-1].headers


@check("ratelimit-retry-after-lies", burst=2, rate_per_second=1)
def _(h: Any, forge: Any) -> None:
    refused = [h.get("/jobs") for _ in range(3)][-1]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    h.clock.advance(1.5)
    assert h.get("/jobs").status_code == 429  # told 1 s, still blocked
    h.clock.advance(5.1)
    assert h.get("/jobs").status_code == 200


@check("ratelimit-trust-xff", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    for i in range(5):
        fake = {"X-Forwarded-For": f"198.51.100.{i}"}
        assert h.get("/jobs", headers=fake).status_code == 200


@check("ratelimit-trust-client-headers", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    for i in range(5):
        assert h.get("/jobs", headers={"X-Real-IP": f"198.51.100.{i}"}).status_code == 200


@check("ratelimit-per-token", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    for i in range(5):  # each new bearer string: a full bucket, so 401 and never 429
        fresh = {"Authorization": f"Bearer not-a-token-{i}"}
        assert h.get("/jobs", headers=fresh, authorized=False).status_code == 401


@check("ratelimit-per-route", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    assert [h.get("/jobs").status_code for _ in range(3)] == [200, 200, 429]
    assert h.get("/scenes").status_code == 200  # another route, another bucket


@check("ratelimit-per-connection", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    ports = [("127.0.0.1", 40000 + i) for i in range(5)]  # one new connection each
    assert [h.get("/status", peer=peer).status_code for peer in ports] == [200] * 5


@check("ratelimit-after-auth", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    assert all(h.get("/jobs", authorized=False).status_code == 401 for _ in range(6))
    assert h.get("/jobs").status_code == 200


@check("ratelimit-loose", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    statuses = [h.get("/jobs").status_code for _ in range(7)]
    assert statuses == [200] * 6 + [429]


# --- latency -----------------------------------------------------------------


@check("latency-slow-all")
def _(h: Any, forge: Any) -> None:
    elapsed, _ = _timed(lambda: h.get("/status", authorized=False))
    assert elapsed >= 0.3


@check("latency-tail")
def _(h: Any, forge: Any) -> None:
    timings = [_timed(lambda: h.get("/webhooks"))[0] for _ in range(7)]
    assert max(timings[:6]) < 0.5
    assert timings[6] >= 0.7


@check("latency-slow-endpoint")
def _(h: Any, forge: Any) -> None:
    assert _timed(lambda: h.get("/scene/history"))[0] >= 0.25
    assert _timed(lambda: h.get("/jobs"))[0] < 0.2


@check("latency-stall")
def _(h: Any, forge: Any) -> None:
    h.clock.now = 3000.7  # phase 0.7 s into a 3 s period: 0.3 s of stall left
    assert _timed(lambda: h.get("/status", authorized=False))[0] >= 0.3
    h.clock.now = 3001.5  # outside the stall window
    assert _timed(lambda: h.get("/status", authorized=False))[0] < 0.2


@check("latency-slow-write")
def _(h: Any, forge: Any) -> None:
    assert _timed(lambda: h.post_scene("res://scenes/lobby.tscn"))[0] >= 0.4
    assert _timed(lambda: h.request("POST", "/scene/reload"))[0] >= 0.4
    assert _timed(lambda: h.get("/scene"))[0] < 0.2


# --- traversal ---------------------------------------------------------------


@check("traversal-blocklist")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res:///etc/passwd.tscn"))
    assert h.post_scene("res://scenes/ lobby.tscn").status_code == 404
    assert h.post_scene("res://../etc/passwd.tscn").status_code == 400


@check("traversal-validate-before-decode")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://%2e%2e/%2e%2e/etc/passwd.tscn"))


@check("traversal-single-decode")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://%252e%252e/%252e%252e/etc/passwd.tscn"))
    assert h.post_scene("res://%2e%2e/etc/passwd.tscn").status_code == 400


@check("traversal-no-nfkc")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://．．/．．/etc/passwd.tscn"))


@check("traversal-slash-only-check")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://scenes\\..\\..\\..\\etc\\passwd.tscn"))
    loaded = h.post_scene("res://scenes\\..\\vr_main.tscn")
    assert loaded.json() == {"status": "loaded", "scene_path": "res://vr_main.tscn"}


@check("traversal-crash-500")
def _(h: Any, forge: Any) -> None:
    response = h.post_scene("res://%c0%ae%c0%ae/etc/passwd.tscn")
    assert response.status_code == 500
    assert h.post_scene("res://../x.tscn").status_code == 400
    assert h.get("/status", authorized=False).status_code == 200  # still serving


@check("traversal-exists-first")
def _(h: Any, forge: Any) -> None:
    assert h.post_scene("res://../etc/passwd.tscn").status_code == 404
    assert h.post_scene("res://scenes/lobby.tscn", method="PUT").status_code == 200


@check("traversal-put-unchecked")
def _(h: Any, forge: Any) -> None:
    validated = h.post_scene("res:///etc/passwd.tscn", method="PUT")
    assert validated.status_code == 200 and validated.json()["valid"] is True
    assert h.post_scene("res:///etc/passwd.tscn").status_code == 400


@check("traversal-no-length-limit")
def _(h: Any, forge: Any) -> None:
    assert h.post_scene("res://" + "a" * 300 + ".tscn").status_code == 404


@check("traversal-contains-ext")
def _(h: Any, forge: Any) -> None:
    assert h.post_scene("res://scenes/lobby.tscn.bak").status_code == 404
    assert h.post_scene("res://scenes/lobby.tscn.bak", method="PUT").status_code == 404


@check("traversal-percent25-detector")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://%%32%65%%32%65/%%32%65%%32%65/etc/passwd.tscn"))
    assert h.post_scene("res://%252e%252e/%252e%252e/etc/passwd.tscn").status_code == 400


@check("traversal-strip-control")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://.%00./.%00./etc/passwd.tscn"))
    assert h.post_scene("res://../etc/passwd.tscn").status_code == 400


@check("traversal-lenient-overlong")
def _(h: Any, forge: Any) -> None:
    five = "%f8%80%80%80%ae"
    assert _leaks(h.post_scene(f"res://{five}{five}/{five}{five}/etc/passwd.tscn"))
    assert _leaks(h.post_scene("res://%c0%qe%c0%qe%c0%qf%c0%qe%c0%qe%c0%qfetc%c0%qfpasswd.tscn"))
    assert h.post_scene("res://%c0%ae%c0%ae/etc/passwd.tscn").status_code == 400


@check("traversal-iis-percent-u")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://%u002e%u002e%uF025%u002e%u002e%uEFC8etc%uF025passwd.tscn"))


@check("traversal-wildcard-glob")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://.?/.?/etc/passwd.tscn"))
    assert _leaks(h.post_scene("res://scenes/??/??/??/etc/passwd.tscn"))


@check("traversal-textual-hex")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://0x2e0x2e/.0x2e/etc/passwd.tscn"))


@check("traversal-dot-names-only")
def _(h: Any, forge: Any) -> None:
    assert h.post_scene("res://..2f..2fetc2fpasswd.tscn").status_code == 404
    assert h.post_scene("res://scenes/../lobby.tscn").status_code == 400


@check("traversal-trim-dots")
def _(h: Any, forge: Any) -> None:
    loaded = h.post_scene("res://scenes/lobby.tscn.....")
    assert loaded.json() == {"status": "loaded", "scene_path": "res://scenes/lobby.tscn"}
    assert h.post_scene("res://vr_main.tscn/./././.", method="PUT").status_code == 200


@check("traversal-wrapper-scheme")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("php://filter/convert.base64-encode/resource=/etc/passwd.tscn"))
    assert h.post_scene("res://php://filter/resource=project.godot.tscn").status_code == 404


@check("traversal-drive-relative")
def _(h: Any, forge: Any) -> None:
    assert _leaks(h.post_scene("res://c:etc/passwd.tscn"))
    assert h.post_scene("res://c:/etc/passwd.tscn").status_code == 400


def _scene_body(h: Any, body: bytes, method: str = "POST", **kwargs: Any) -> Any:
    return h.request(method, "/scene", content=body, **kwargs)


@check("traversal-duplicate-key-last")
def _(h: Any, forge: Any) -> None:
    body = b'{"scene_path": "res://vr_main.tscn", "scene_path": "res:///etc/passwd.tscn"}'
    assert _leaks(_scene_body(h, body))
    reverse = b'{"scene_path": "res:///etc/passwd.tscn", "scene_path": "res://vr_main.tscn"}'
    assert _scene_body(h, reverse).status_code == 400


@check("traversal-query-override")
def _(h: Any, forge: Any) -> None:
    response = h.request(
        "POST",
        "/scene?scene_path=res:///etc/passwd.tscn",
        json={"scene_path": "res://vr_main.tscn"},
    )
    assert _leaks(response)


@check("traversal-json-escape-scan")
def _(h: Any, forge: Any) -> None:
    body = rb'{"scene_path": "res://\u002e\u002e/\u002e\u002e/etc/passwd.tscn"}'
    assert _leaks(_scene_body(h, body))
    assert _scene_body(h, b'{"scene_path": "res://../etc/passwd.tscn"}').status_code == 400


@check("traversal-lenient-body")
def _(h: Any, forge: Any) -> None:
    json_body = b'{"scene_path": "res:///etc/passwd.tscn"}'
    assert _leaks(_scene_body(h, b"\xef\xbb\xbf" + json_body))
    assert _leaks(_scene_body(h, json_body, headers={"Content-Type": "text/plain"}))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _leaks(_scene_body(h, b"scene_path=res%3A%2F%2F%2Fetc%2Fpasswd.tscn", headers=form))
    strict = {"Content-Type": "application/json"}
    assert _scene_body(h, json_body, headers=strict).status_code == 400


@check("traversal-nonstring-500")
def _(h: Any, forge: Any) -> None:
    for value in (["res://vr_main.tscn"], {"p": 1}, 3, None):
        assert h.post_scene(value).status_code == 500
    assert h.post_scene("res://../x.tscn").status_code == 400


# --- contract ----------------------------------------------------------------


@check("contract-text-plain")
def _(h: Any, forge: Any) -> None:
    response = h.get("/scenes")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.json()["scenes"]


@check("contract-missing-field")
def _(h: Any, forge: Any) -> None:
    doc = h.get("/performance").json()
    assert "nodes_in_use" not in doc["engine"]
    assert "eviction_count" not in doc["cache"]


@check("contract-wrong-type")
def _(h: Any, forge: Any) -> None:
    assert h.get("/jobs").json()["queue_length"] == "0"


@check("contract-history-shape")
def _(h: Any, forge: Any) -> None:
    history = h.get("/scene/history").json()["history"]
    assert history and all("duration_ms" not in entry for entry in history)


@check("contract-error-body", burst=2, rate_per_second=0.1)
def _(h: Any, forge: Any) -> None:
    unauthorized = h.get("/jobs", authorized=False)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["content-type"].startswith("text/plain")
    assert unauthorized.text == "Unauthorized"
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    assert h.get("/nope").text == "Not Found"
    limited = h.get("/nope")
    assert limited.status_code == 429 and limited.text == "Too Many Requests"
    assert "retry-after" in limited.headers


# --- health ------------------------------------------------------------------


def _health(h: Any) -> tuple[int, dict[str, Any]]:
    response = h.get("/health", manager=True, authorized=False)
    return response.status_code, response.json()


@check("health-200-when-unhealthy")
def _(h: Any, forge: Any) -> None:
    status, doc = _health(h)
    assert status == 200 and doc["overall_healthy"] is False and doc["blocking_issues"]


@check("health-503-no-issues")
def _(h: Any, forge: Any) -> None:
    status, doc = _health(h)
    assert status == 503 and doc["overall_healthy"] is False and doc["blocking_issues"] == []


@check("health-healthy-503")
def _(h: Any, forge: Any) -> None:
    status, doc = _health(h)
    assert status == 503 and doc["overall_healthy"] is True and doc["blocking_issues"] == []


@check("health-status-bad-state")
def _(h: Any, forge: Any) -> None:
    assert h.get("/status", authorized=False).json()["language_server"]["state"] == 7


@check("health-status-missing-service")
def _(h: Any, forge: Any) -> None:
    doc = h.get("/status", authorized=False).json()
    assert "language_server" not in doc and "debug_adapter" in doc


# --- performance -------------------------------------------------------------


def _perf(h: Any) -> dict[str, Any]:
    return dict(h.get("/performance").json())


@check("perf-low-fps")
def _(h: Any, forge: Any) -> None:
    assert _perf(h)["engine"]["fps"] < 45


@check("perf-vr-comfort-fps")
def _(h: Any, forge: Any) -> None:
    assert 45 <= _perf(h)["engine"]["fps"] < 85


@check("perf-high-memory")
def _(h: Any, forge: Any) -> None:
    memory = _perf(h)["memory"]
    assert 10e9 < memory["static_memory_usage"] <= 12e9
    assert memory["static_memory_usage"] <= memory["static_memory_max"]


@check("perf-memory-exhaustion")
def _(h: Any, forge: Any) -> None:
    memory = _perf(h)["memory"]
    assert memory["static_memory_usage"] > 12 * 1024**3
    assert memory["static_memory_usage"] <= memory["static_memory_max"]


@check("perf-cache-cold")
def _(h: Any, forge: Any) -> None:
    cache = _perf(h)["cache"]
    assert cache["hit_rate"] < 0.5
    assert cache["hit_rate"] + cache["miss_rate"] == pytest.approx(1.0)


# --- the tests ---------------------------------------------------------------


def test_every_registered_fault_has_a_check() -> None:
    # The --mode vtt faults are proven in tests/refserver/test_vtt.py.
    assert set(CHECKS) == {name for name, fault in FAULTS.items() if fault.mode == "spacetime"}


@pytest.mark.parametrize("name", list(CHECKS))
def test_fault_is_observable(name: str, make_harness: Any, forge: Any) -> None:
    fn, settings = CHECKS[name]
    fn(make_harness(name, **settings), forge)


@pytest.mark.parametrize("name", list(CHECKS))
def test_check_fails_against_the_conforming_server(
    name: str, make_harness: Any, forge: Any
) -> None:
    fn, settings = CHECKS[name]
    with pytest.raises(AssertionError):
        fn(make_harness(**settings), forge)


def test_catalogue_lines_name_a_known_family() -> None:
    lines = catalogue_lines()
    assert len(lines) == len(FAULTS)
    for line in lines:
        name, family, description, _mode = line.split("\t")
        assert FAULTS[name].family == family
        assert family in FAMILIES and description


def test_families_are_covered() -> None:
    assert {f.family for f in FAULTS.values()} == set(FAMILIES)


def test_parse_faults() -> None:
    assert parse_faults([" auth-403 ", "", "auth-403"]) == {"auth-403"}
    with pytest.raises(UnknownFault, match="valid: "):
        parse_faults(["auth-typo"])


def test_docs_fault_table_matches_the_registry() -> None:
    doc = Path(__file__).parents[2] / "docs" / "reference-server.md"
    catalogue = doc.read_text().split("## Fault catalogue", 1)[1]
    rows = [line for line in catalogue.splitlines() if line.startswith("| `")]
    documented = {row.split("`")[1]: row.split("|")[2].strip() for row in rows}
    assert documented == {name: fault.family for name, fault in FAULTS.items()}
