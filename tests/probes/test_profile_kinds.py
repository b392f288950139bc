"""Profiles for other APIs: kinds, families, the sections the new families read."""

from __future__ import annotations

import pytest

from probes import profile
from probes.profile import Levels, fails_at

BASE = "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\n"


def test_vtt_builtin() -> None:
    vtt = profile.builtin("vtt")
    assert vtt.kind == "vtt"
    assert "traversal" not in vtt.families and {"health_api", "metrics"} <= set(vtt.families)
    assert [e.path for e in vtt.endpoints if e.auth] == ["/api/metrics"]
    assert vtt.metrics is not None and vtt.metrics.path == "/api/metrics/prometheus"
    assert vtt.metrics.error_ratio == Levels(warning=0.05, critical=0.15)
    assert vtt.health_api.response_time_ms == Levels(warning=2000, critical=5000)
    assert vtt.scenes == ()


def test_spacetime_unchanged_and_metrics_skipped_without_a_path() -> None:
    spacetime = profile.builtin("spacetime")
    assert spacetime.kind == "spacetime" and len(spacetime.endpoints) == 10
    assert spacetime.skip_reason("traversal") is None
    assert "names no metrics endpoint" in (spacetime.skip_reason("metrics") or "")
    assert "not in profile spacetime's families" in (spacetime.skip_reason("health_api") or "")


def test_kind_picks_default_endpoints_and_families() -> None:
    vtt = profile.from_str(BASE + "kind: vtt\n")
    assert vtt.endpoints[0].path == "/api/health"
    assert "health_api" in vtt.families and "traversal" not in vtt.families
    generic = profile.from_str(BASE + "kind: generic\nmetrics: {path: /metrics}\n")
    assert generic.endpoints == () and generic.skip_reason("metrics") is None
    assert generic.skip_reason("contract") is not None


def test_a_module_of_an_unknown_family_is_not_skipped() -> None:
    assert profile.builtin("vtt").skip_reason("some_new_family") is None


def test_wire_round_trip_keeps_everything() -> None:
    vtt = profile.builtin("vtt")
    assert profile.from_dict(vtt.model_dump(mode="json")) == vtt


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("kind: vtt\nfamilies: [traversal]\n", "scenes: at least one scene is required"),
        ("families: [auth, auth]\n", "families: listed twice"),
        ("kind: vtt\nfamilies: [auth, tlsx]\n", "families.1: Input should be"),
        ("kind: soap\n", "kind: Input should be 'spacetime', 'vtt' or 'generic'"),
        ("kind: vtt\nmetrics: {path: /m, error_ratio: {warning: 0.2, critical: 0.1}}\n",
         "metrics.error_ratio: critical must be >= warning"),
        ("kind: vtt\nmetrics: {}\n", "metrics.path: Field required"),
        ("kind: vtt\nhealth_api: {fail_at: sometimes}\n", "health_api.fail_at"),
    ],
)  # fmt: skip
def test_bad_sections_name_the_field(extra: str, message: str) -> None:
    with pytest.raises(profile.ProfileError) as info:
        profile.from_str(BASE + extra, origin="x.yaml")
    assert message in str(info.value) and str(info.value).startswith("x.yaml: ")


def test_levels() -> None:
    levels = Levels(warning=0.05, critical=0.15)
    assert [levels.severity(v) for v in (0.05, 0.06, 0.15, 0.16)] == [
        None, "warning", "warning", "critical"
    ]  # fmt: skip
    assert levels.describe("") == "warning > 0.05, critical > 0.15"
    assert Levels(warning=1.0).severity(9) == "warning"
    assert fails_at("warning", "warning") and fails_at("critical", "warning")
    assert not fails_at("warning", "critical") and not fails_at(None, "warning")
