"""The alert rules, the per-type rate limit and the webhook payloads: pure, no I/O."""

from __future__ import annotations

import pytest
from alert_runs import GIB, probe_run

from slo import notify
from slo.notified import NotifiedAlert
from slo.notify import (
    API_DOWN,
    HIGH_MEMORY,
    LOW_FPS,
    RATE_LIMIT_VIOLATIONS,
    SLO_PAGE_BURN,
    SLOW_RESPONSE,
    Context,
    Thresholds,
    decide_notifications,
    evaluate_rules,
    last_run,
    payload,
)

T = Thresholds()
NOW = 1_800_000_100.0


def verdicts(**kwargs) -> dict:
    run = last_run(probe_run(**kwargs))
    assert run is not None
    return evaluate_rules(run, T)


def test_a_healthy_run_fires_nothing_and_knows_every_type_but_the_slo() -> None:
    result = verdicts()
    assert result == {
        API_DOWN: None, SLOW_RESPONSE: None, HIGH_MEMORY: None, LOW_FPS: None,
        RATE_LIMIT_VIOLATIONS: None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("performance", "fires"),
    [
        ([(None, None)] * 5 + [(200, 10.0)] * 5, True),  # half unanswered
        ([(503, 4.0)] * 6 + [(200, 10.0)] * 4, True),
        ([(None, None)] * 4 + [(200, 10.0)] * 6, False),
    ],
)
def test_api_down_at_half_the_performance_requests(performance, fires: bool) -> None:
    alert = verdicts(performance=performance)[API_DOWN]
    assert (alert is not None) is fires
    if alert:
        assert alert.severity == "critical"
        assert "GET /performance" in alert.summary and "of 10 requests" in alert.summary


def test_a_dead_target_is_down_and_its_latency_unknown() -> None:
    result = verdicts(performance=[(None, None)] * 10, fps=None, memory_bytes=None)
    assert result[API_DOWN] is not None
    assert "cannot connect" in result[API_DOWN].summary
    assert SLOW_RESPONSE not in result  # no answer: neither slow nor resolved
    assert HIGH_MEMORY not in result and LOW_FPS not in result


def test_slow_response_when_the_typical_poll_exceeds_200_ms() -> None:
    cold_start = [(200, 900.0)] + [(200, 50.0)] * 9  # one slow request is no alert
    assert verdicts(performance=cold_start)[SLOW_RESPONSE] is None
    slow = [(200, 50.0)] * 4 + [(200, 250.0)] * 6
    alert = verdicts(performance=slow)[SLOW_RESPONSE]
    assert alert is not None and alert.summary == (
        "GET /performance p50 250.0 ms > 200 ms (6 of 10 over, max 250.0 ms)"
    )
    strict = Thresholds(slow_percentile=95)
    run = last_run(probe_run(performance=cold_start))
    assert run is not None and evaluate_rules(run, strict)[SLOW_RESPONSE] is not None


@pytest.mark.parametrize(("gib", "severity"), [(9.9, None), (10.5, "high"), (12.5, "critical")])
def test_high_memory_at_10_and_12_gib(gib: float, severity: str | None) -> None:
    alert = verdicts(memory_bytes=gib * GIB)[HIGH_MEMORY]
    assert (alert.severity if alert else None) == severity


@pytest.mark.parametrize(
    ("fps", "severity"), [(90.0, None), (88.0, "medium"), (84.0, "high"), (42.0, "critical")]
)
def test_low_fps_with_the_seeds_severities(fps: float, severity: str | None) -> None:
    alert = verdicts(fps=fps)[LOW_FPS]
    assert (alert.severity if alert else None) == severity


def test_rate_limit_violations_from_the_limiter_probe_and_unprovoked_429s() -> None:
    broken = verdicts(rate_limit="failed")[RATE_LIMIT_VIOLATIONS]
    assert broken is not None and "503 where 429 is due" in broken.summary
    assert "reproduce" not in broken.summary
    collateral = verdicts(unprovoked_429=3)[RATE_LIMIT_VIOLATIONS]
    assert collateral is not None and "3 paced request(s)" in collateral.summary


def _report(alert: bool, valid: bool = True) -> dict:
    line = {
        "error_budget_policy_step_name": "page-1h-5m", "severity": "page", "alert": alert,
        "long_window_burn_rate": 20.0, "short_window_burn_rate": 25.0,
        "error_budget_burn_rate_threshold": 13.44,
    }  # fmt: skip
    ticket = {**line, "severity": "ticket", "alert": True}
    return {
        "environment": "staging",
        "state": "page" if alert else "ok",
        "slos": [
            {"slo_name": "availability", "endpoint": None, "valid": valid,
             "alerts": [line, ticket]},
            {"slo_name": "availability", "endpoint": "GET /scene", "valid": True,
             "alerts": [{**line, "alert": True}]},
        ],
    }  # fmt: skip


def test_slo_page_burn_from_the_report_overall_lines_only() -> None:
    run = last_run(probe_run())
    assert run is not None
    fired = evaluate_rules(run, T, _report(True))[SLO_PAGE_BURN]
    assert fired is not None
    assert fired.summary == "availability: burn 20.00x and 25.00x > 13.44x (page-1h-5m)"
    assert evaluate_rules(run, T, _report(False))[SLO_PAGE_BURN] is None  # ticket, endpoint: no
    assert SLO_PAGE_BURN not in evaluate_rules(run, T, _report(True, valid=False))
    assert SLO_PAGE_BURN not in evaluate_rules(run, T, None)


def test_the_latest_run_of_a_concatenated_file_is_judged() -> None:
    old = probe_run("b" * 32, ts=1_700_000_000.0, fps=40.0)
    new = probe_run("c" * 32, ts=1_800_000_000.0)
    run = last_run(old + new)
    assert run is not None and run.run_id == "c" * 32
    assert evaluate_rules(run, T)[LOW_FPS] is None


# ----------------------------------------------------------------------------- decide


def _alert(kind: str = LOW_FPS) -> notify.Alert:
    return notify.Alert(kind, "high", "engine.fps 84 < 85")


def test_first_firing_is_sent_and_a_repeat_within_5_minutes_suppressed() -> None:
    [first] = [
        d
        for d in decide_notifications({LOW_FPS: _alert()}, {}, NOW, 300)
        if d.alert_type == LOW_FPS
    ]
    assert first.action == "firing"
    assert first.if_sent.notified == "firing" and first.if_sent.last_sent == NOW
    assert first.if_not_sent.last_sent is None  # undelivered: the next run tries again
    state = {LOW_FPS: first.if_sent}
    [again] = decide_notifications({LOW_FPS: _alert()}, state, NOW + 299, 300)
    assert again.action == "suppressed" and "at most one per 300 s" in again.reason
    assert again.if_sent.since == NOW  # the episode goes on
    [later] = decide_notifications({LOW_FPS: _alert()}, state, NOW + 300, 300)
    assert later.action == "firing"


def test_resolved_once_after_a_delivered_firing_and_never_for_a_suppressed_one() -> None:
    fired = decide_notifications({LOW_FPS: _alert()}, {}, NOW, 300)[0].if_sent
    [resolved] = decide_notifications({LOW_FPS: None}, {LOW_FPS: fired}, NOW + 60, 300)
    assert resolved.action == "resolved" and resolved.if_sent.notified == "resolved"
    assert not resolved.if_sent.firing
    # it fires again within the 5 minutes: suppressed, and so its clearing is silent
    [refire] = decide_notifications(
        {LOW_FPS: _alert()}, {LOW_FPS: resolved.if_sent}, NOW + 120, 300
    )
    assert refire.action == "suppressed"
    [silent] = decide_notifications({LOW_FPS: None}, {LOW_FPS: refire.if_sent}, NOW + 180, 300)
    assert silent.action == "none"


def test_unknown_types_keep_their_state() -> None:
    state = {HIGH_MEMORY: NotifiedAlert(HIGH_MEMORY, True, "firing", NOW, NOW, "x")}
    assert decide_notifications({LOW_FPS: None}, state, NOW + 600, 300)[0].alert_type == LOW_FPS
    assert all(
        d.alert_type != HIGH_MEMORY for d in decide_notifications({LOW_FPS: None}, state, NOW, 300)
    )


# ----------------------------------------------------------------------------- payloads


def _firing():
    run = last_run(probe_run())
    assert run is not None
    decision = decide_notifications(
        {LOW_FPS: notify.Alert(LOW_FPS, "critical", "fps <b>&</b> 42")}, {}, NOW, 300
    )[0]
    return decision, run


def test_slack_payload_escapes_and_colours() -> None:
    decision, run = _firing()
    body = payload("slack", decision, run, Context(pipeline_url="https://ci/p/1"), NOW)
    assert body["text"] == "[FIRING] LOW_FPS (critical) on staging: fps &lt;b&gt;&amp;&lt;/b&gt; 42"
    attachment = body["attachments"][0]
    assert attachment["color"] == "#d9534f"
    assert {"title": "pipeline", "value": "https://ci/p/1", "short": True} in attachment["fields"]


def test_discord_payload_within_limits_and_without_mentions() -> None:
    decision, run = _firing()
    long = notify.Alert(LOW_FPS, "critical", "@everyone " + "x" * 5000)
    decision = decide_notifications({LOW_FPS: long}, {}, NOW, 300)[0]
    body = payload("discord", decision, run, Context(), NOW)
    assert len(body["content"]) <= 2000
    embed = body["embeds"][0]
    assert len(embed["description"]) <= 4096 and embed["color"] == 0xD9534F
    assert body["allowed_mentions"] == {"parse": []}
    assert embed["timestamp"].endswith("Z")


def test_generic_payload_and_a_resolved_notice() -> None:
    decision, run = _firing()
    body = payload("generic", decision, run, Context(), NOW)
    assert body["status"] == "firing" and body["alert_type"] == LOW_FPS
    assert body["environment"] == "staging" and body["run_id"] == run.run_id
    resolved = decide_notifications({LOW_FPS: None}, {LOW_FPS: decision.if_sent}, NOW + 60, 300)[0]
    body = payload("generic", resolved, run, Context(), NOW + 60)
    assert body["status"] == "resolved" and body["severity"] is None
    assert body["summary"] == "cleared (was: fps <b>&</b> 42)"
    slack = payload("slack", resolved, run, Context(), NOW + 60)
    assert slack["text"].startswith("[RESOLVED] LOW_FPS on staging")


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("https://hooks.slack.com/services/T0/B0/XXXX", "slack"),
        ("https://discord.com/api/webhooks/1/abc", "discord"),
        ("https://alerts.example/hook", "generic"),
    ],
)
def test_format_from_the_host_and_the_url_is_never_shown_whole(url: str, fmt: str) -> None:
    assert notify.guess_format(url) == fmt
    host = url.split("/")[2]
    assert notify.describe_url(url) == f"https://{host}/…"
