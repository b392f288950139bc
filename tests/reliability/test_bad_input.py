"""Bad target profiles and options: one line naming the file and what is wrong, never a traceback.

Hypothesis feeds `probes.profile.from_str` arbitrary text, YAML-shaped
noise and mutations of a valid profile; a handful of hostile documents
follow; then the command line, where every such error must be one line
and exit status 4. The fuzzing found four defects, each now a test: deep
nesting raised RecursionError, a YAML key with a newline gave a two-line
message, `kind: []` raised TypeError, and `.inf` passed as a rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from reliability.fuzz import FUZZ, mutated
from reliability.harness import run_measured
from support import mint_token

from probes import profile as profiles

ORIGIN = "fuzz.yaml"
VALID: dict[str, Any] = {
    "name": "fuzz",
    "environment": "staging",
    "target": "https://staging.example.com:8080",
    "token_file": "/run/secrets/jwt",
    "rate_limit": {"rate_per_second": 10, "burst": 20, "tolerance_ratio": 0.1, "pace_ratio": 0.8},
    "sla": {"threshold_ms": 200, "percentile": 95, "confidence": 0.95, "min_samples": 20,
            "max_samples": 120, "batch": 20},
    "scenes": ["res://vr_main.tscn"],
    "endpoints": [{"method": "GET", "path": "/scenes"},
                  {"method": "POST", "path": "/scene", "body": {"scene_path": "{scene}"}}],
    "performance": {"fail_at": "medium"},
    "request_timeout_s": 10,
}  # fmt: skip


def assert_one_line_or_profile(text: str) -> None:
    """The property: a Profile, or a ProfileError of one line that names the file."""
    try:
        profile = profiles.from_str(text, origin=ORIGIN)
    except profiles.ProfileError as exc:
        message = str(exc)
        assert message.startswith(f"{ORIGIN}: "), message
        assert "\n" not in message and "\r" not in message, repr(message)
        assert len(message) < 2000
        return
    assert isinstance(profile, profiles.Profile)


NAMES = [*VALID, "rate_per_second", "burst", "method", "path", "auth", "body", "fail_at",
         "kind", "families", "manager_url"]  # fmt: skip


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    assert_one_line_or_profile(text)


@FUZZ
@given(st.lists(st.sampled_from(["name:", " ", "\n", "- ", "{", "}", "[", "]", ",", ":", "&a",
                                 "*a", "!!str", "'", '"', "rate_limit:", "  burst: ", "10",
                                 "-1", ".inf", "~", "#", "\t", "? "]),
                max_size=60).map("".join))  # fmt: skip
def test_yaml_shaped_noise(text: str) -> None:
    assert_one_line_or_profile(text)


@FUZZ
@given(mutated(VALID, NAMES))
def test_mutated_profiles(data: dict[str, Any]) -> None:
    assert_one_line_or_profile(yaml.safe_dump(data, allow_unicode=True))


HOSTILE = {
    "python tag": "!!python/object/apply:os.system [echo owned]",
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: *d",
    "NUL byte": "name: \x00",
    "lone surrogate": 'name: "\\ud800"\nenvironment: local',
    "unhashable key": "? [a, b]\n: 1",
    "tab indentation": "name:\tx\n\tenvironment: y",
    "NaN rate": "name: x\nenvironment: local\nrate_limit: {rate_per_second: .nan, burst: 1}\n"
    "scenes: [a]",
    "date as name": "name: 2026-01-01\nenvironment: local\nrate_limit: {rate_per_second: 1,"
    " burst: 1}\nscenes: [a]",
    "empty": "",
    "only a comment": "# nothing",
    "a list": "- name: x",
    "escape sequences": 'name: "\\e[31mred"\nenvironment: "\\e[2J"',
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_documents(text: str) -> None:
    assert_one_line_or_profile(text)


BASE = "name: x\nenvironment: local\nrate_limit: {rate_per_second: 1, burst: 1}\nscenes: [a]\n"


def test_deep_nesting_is_a_profile_error() -> None:
    assert_one_line_or_profile("[" * 3000 + "]" * 3000)


def test_key_with_newline_is_one_line() -> None:
    assert_one_line_or_profile(BASE + '"a\\nb": 1')


def test_kind_of_the_wrong_type_is_a_profile_error() -> None:
    assert_one_line_or_profile(BASE + "kind: []")


def test_infinite_numbers_are_rejected() -> None:
    for extra in ("rate_limit: {rate_per_second: .inf, burst: 1}", "sla: {threshold_ms: .inf}"):
        text = BASE.replace("rate_limit: {rate_per_second: 1, burst: 1}\n", "") + extra
        with pytest.raises(profiles.ProfileError):
            profile = profiles.from_str(text, origin=ORIGIN)
            assert math.isfinite(profile.rate_limit.rate_per_second)


# The command line: exit 4, one line, whatever the profile or option ---------------------------


BAD_RUNS = {
    "deeply nested profile": (["--st-profile={p}"], "[" * 3000 + "]" * 3000, "nested too deeply"),
    "newline in a key": (["--st-profile={p}"], BASE + '"a\\nb": 1', "unknown key 'a\\nb'"),
    "kind of the wrong type": (["--st-profile={p}"], BASE + "kind: []", "fuzz.yaml"),
    "fuzzed garbage": (["--st-profile={p}"], "rate_limit: [{burst: -1}, &x ~]\n*x: ]", "fuzz"),
    "not a URL": (["--st-target=ftp://host", "--st-token-file={t}"], None, "not an http"),
    "credentials in URL": (["--st-target=https://u:pw@host", "--st-token-file={t}"], None,
                           "credentials in the URL"),
    "token not a JWT": (["--st-target=https://host", "--st-token-file={p}"], "opaque-key",
                        "does not hold a JWT"),
    "token file is an HTML page": (["--st-target=https://host", "--st-token-file={p}"],
                                   "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n",
                                   "starts with '<'"),
    "token placeholder x.y.z": (["--st-target=https://host", "--st-token-file={p}"], "x.y.z",
                                "header segment is not base64url-encoded JSON"),
    "token cut in its payload": (["--st-target=https://host", "--st-token-file={p}"],
                                 "{half}", "dot-separated segments"),
    "token segments not base64url": (["--st-target=https://host", "--st-token-file={p}"],
                                     "{bad_alphabet}", "outside base64url"),
    "ST_EXAMPLES not a number": (["--st-examples=abc"], None, "--st-examples"),
    "bad timeout": (["--st-timeout=0"], None, "--st-timeout"),
    "NaN min days": (["--st-tls-min-days=nan"], None, "--st-tls-min-days"),
    "unreadable CA": (["--st-ca-file={p}"], "not a certificate", "--st-ca-file"),
}  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("case", list(BAD_RUNS), ids=list(BAD_RUNS))
def test_command_line_errors_are_one_line_exit_4(case: str, tmp_path: Path) -> None:
    args, content, expected = BAD_RUNS[case]
    path = tmp_path / "fuzz.yaml"
    valid = mint_token("x")
    if content is not None:
        header, payload, signature = valid.split(".")
        path.write_text(
            content.replace("{half}", f"{header}.{payload[: len(payload) // 2]}").replace(
                "{bad_alphabet}", f"{header}.{payload}.{signature}+/="
            )
        )
    token = tmp_path / "token"
    token.write_text(valid)
    argv = [a.format(p=path, t=token) for a in args]
    run = run_measured(tmp_path / "out", *argv, timeout=120)
    assert run.returncode == 4, run.output[-2000:]
    errors = [line for line in run.output.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, run.output[-2000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in run.output
    for part in valid.split("."):  # a set-up error never quotes the token it read
        assert part not in run.output
    others = [line for line in run.output.splitlines() if line.strip() and line not in errors]
    assert not others, others
