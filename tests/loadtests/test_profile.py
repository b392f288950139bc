"""The load side's own reading of target profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.profile import ProfileError, from_path, from_str

STAGING = """
name: staging
environment: staging          # local | staging | production
target: https://staging.example.com:8080/
manager_url: https://staging.example.com:8090
token_file: /run/secrets/spacetime_jwt
rate_limit: {rate_per_second: 10, burst: 20, pace_ratio: 0.8}
sla: {threshold_ms: 200, percentile: 95, min_samples: 20}
scenes: [res://vr_main.tscn, res://scenes/lobby.tscn]
endpoints: [{method: GET, path: /scenes}]
"""


def test_reads_the_fields_it_needs_and_ignores_the_probes_extras() -> None:
    profile = from_str(STAGING)
    assert profile.name == "staging"
    assert profile.environment == "staging" and not profile.production
    assert profile.target == "https://staging.example.com:8080"
    assert profile.manager_url == "https://staging.example.com:8090"
    assert profile.token_file == "/run/secrets/spacetime_jwt"
    assert profile.rate_limit is not None and profile.rate_limit.burst == 20
    assert (profile.sla_threshold_ms, profile.sla_percentile) == (200.0, 95.0)
    assert profile.scenes == ("res://vr_main.tscn", "res://scenes/lobby.tscn")


def test_defaults_when_optional_fields_are_absent() -> None:
    profile = from_str("name: x\nenvironment: production\n")
    assert profile.production
    assert profile.target is None and profile.token_file is None
    assert profile.sla_threshold_ms == 200.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list", "expected a mapping at the top level"),
        ("name: x\nenvironment: prod\n", "environment: expected one of"),
        ("environment: local\n", "name: a non-empty string is required"),
        ("name: x\nenvironment: local\ntarget: ftp://x\n", "target: expected an http(s) URL"),
        ("name: x\nenvironment: local\ntarget: http://u:p@x\n", "without credentials"),
        ("name: x\nenvironment: local\nsla: {threshold_ms: true}\n", "got a boolean"),
        ("name: x\nenvironment: local\nsla: {percentile: 100}\n", "percentile"),
        ("name: x\nenvironment: local\nscenes: [/etc/passwd]\n", "res:// paths"),
        ("name: x\nenvironment: local\nrate_limit: {rate_per_second: 0, burst: 1}\n", "rate_limit"),
        ("name: [unclosed\n", "<profile>: line"),
    ],
)
def test_bad_profiles_raise_one_line_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=r"^<profile>") as caught:
        from_str(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read profile"):
        from_path(tmp_path / "missing.yaml")
