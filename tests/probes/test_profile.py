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
            "(top level): unknown key 'surprise'",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "auth: {issuer: a, iss: a}",
            "auth: unknown key 'iss' (did you mean 'issuer'?)",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "auth: {issuer: ''}",
            "auth.issuer: String should have at least 1 character",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "auth: {max_lifetime_s: 30}",
            "auth.max_lifetime_s: Input should be greater than or equal to 60",
        ),
        (
            "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"
            "auth: {max_lifetime_s: .inf}",
            "auth.max_lifetime_s",
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
    # A bare name that is neither a file nor a built-in lists the built-ins.
    with pytest.raises(profile.ProfileError, match=r"not a built-in profile \(built-in: spacetime"):
        profile.load("stagin")


def test_a_misspelt_key_is_named_with_the_likely_fix_not_as_the_field_it_meant() -> None:
    """Pydantic's first error for `rate_per_secnd` is `rate_per_second: Field required`."""
    text = "name: x\nenvironment: staging\nrate_limit: {rate_per_secnd: 10, burst: 20}\n"
    with pytest.raises(profile.ProfileError) as info:
        profile.from_str(text, origin="staging.yaml")
    assert str(info.value) == (
        "staging.yaml: rate_limit: unknown key 'rate_per_secnd' (did you mean 'rate_per_second'?)"
    )
    with pytest.raises(profile.ProfileError, match=r"unknown key 'endpoint' \(did you mean"):
        profile.from_str("name: x\nenvironment: local\nendpoint: []\n")


def test_body_template() -> None:
    post = profile.builtin("embedded").endpoint("POST", "/scene")
    assert post is not None and post.body_for("res://a.tscn") == {"scene_path": "res://a.tscn"}


def test_auth_claims_are_stated_only_where_promised() -> None:
    """The embedded profile states all three (its server is started to enforce them), the
    VTT one the reference server's issuer; the real-target template states none."""
    assert profile.builtin("embedded").auth == profile.Auth(
        issuer="spacetime", audience="spacetime-api", max_lifetime_s=86400
    )
    assert profile.builtin("vtt").auth == profile.Auth(issuer="spacetime")
    assert profile.builtin("spacetime").auth == profile.Auth()
    unstated = profile.Auth()
    assert (unstated.issuer, unstated.audience, unstated.max_lifetime_s) == (None, None, None)


def test_auth_section_loads_and_survives_the_wire() -> None:
    text = (
        "name: x\nenvironment: staging\nrate_limit: {rate_per_second: 1, burst: 1}\n"
        "scenes: [a]\nauth: {issuer: idp, audience: vr, max_lifetime_s: 3600}\n"
    )
    loaded = profile.from_str(text)
    assert loaded.auth == profile.Auth(issuer="idp", audience="vr", max_lifetime_s=3600.0)
    # The controller hands the profile to xdist workers as a dict.
    assert profile.from_dict(loaded.model_dump(mode="json")) == loaded
