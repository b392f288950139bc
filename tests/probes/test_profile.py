"""Target profiles: built-ins load; bad ones give one line naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from probes import profile


def test_builtins_load() -> None:
    assert profile.builtin("embedded").environment == "local"
    spacetime = profile.builtin("spacetime")
    assert spacetime.rate_limit.rate_per_second == 10 and spacetime.rate_limit.burst == 20
    assert len(spacetime.endpoints) == 10
    assert [e.key for e in spacetime.endpoints if e.mutating] == [
        "POST /scene", "PUT /scene", "POST /scene/reload"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: [", "x.yaml: line 1"),
        ("- a", "expected a mapping"),
        (
            "name: x\nenvironment: prod\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]",
            "environment: Input should be 'local', 'staging' or 'production'",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 0, burst: 1}\nscenes: [a]",
            "rate_limit.rate_per_second",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "target: http://user:pw@host",
            "target",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "surprise: 1",
            "surprise: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_profiles_name_the_field(text: str, message: str) -> None:
    with pytest.raises(profile.ProfileError) as info:
        profile.from_str(text, origin="x.yaml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(profile.ProfileError, match="cannot read profile"):
        profile.load(str(tmp_path / "nope.yaml"))
    with pytest.raises(profile.ProfileError, match="unknown built-in"):
        profile.builtin("nope")


def test_body_template() -> None:
    post = profile.builtin("embedded").endpoint("POST", "/scene")
    assert post is not None and post.body_for("res://a.tscn") == {"scene_path": "res://a.tscn"}
