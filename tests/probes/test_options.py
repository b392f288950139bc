"""`probes.options`: the run's options checked and turned into a `Run`, without pytest.

The plugin's `pytest_configure` only calls these; a bad option's one-line
message through a real `pytest probes` command is tests/reliability/test_bad_input.py's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from support import mint_token

from probes import profile as profiles
from probes.options import (
    SLOT_PERIOD_S,
    EmbeddedSpec,
    Options,
    make_run,
    settle,
    target_source,
)
from probes.target import Target, TargetError


def _clock(seconds: float = 0.0) -> Callable[[], float]:
    return lambda: seconds


def test_every_probe_option_of_the_plugin_is_a_field(pytestconfig: pytest.Config) -> None:
    """The plugin is loaded in the self-tests too (its entry point), inert: its options exist."""
    dests = {name[3:] for name in vars(pytestconfig.option) if name.startswith("st_")}
    assert dests == {f.name for f in dataclasses.fields(Options)}
    options = Options.from_config(pytestconfig.getoption)
    assert isinstance(options.embedded_fault, tuple)


def test_the_defaults_settle_on_the_embedded_profile_and_reports() -> None:
    settings = settle(Options(), now=_clock(7 * SLOT_PERIOD_S + 1))
    assert settings.profile == profiles.builtin("embedded")
    assert settings.results_path == Path("reports/results.jsonl")
    assert settings.tls_metrics_path == Path("reports/tls.prom")
    assert settings.http_metrics_path == Path("reports/http.prom")
    assert (settings.examples, settings.tls_min_days, settings.budget_s) == (1, 30.0, None)
    assert settings.slot == 7  # the clock's five-minute period
    assert settings.allow_mutating is False


def test_given_values_are_parsed() -> None:
    settings = settle(
        Options(results="out/r.jsonl", examples="5", budget="60", slot="12", timeout="2.5",
                tls_min_days="14", allow_mutating=True),
        now=_clock(),
    )  # fmt: skip
    assert settings.results_path == Path("out/r.jsonl")
    assert settings.tls_metrics_path == Path("out/tls.prom")
    assert (settings.examples, settings.budget_s, settings.slot) == (5, 60.0, 12)
    assert settings.profile.request_timeout_s == 2.5
    assert settings.tls_min_days == 14.0 and settings.allow_mutating


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("examples", "abc", "--st-examples: 'abc' is not a number"),
        ("examples", "2.5", "--st-examples: expected a whole number"),
        ("examples", "0", "--st-examples: 0 is outside 1 to 1e+06"),
        ("budget", "nan", "--st-budget: nan is outside 1 to 86400"),
        ("slot", "-1", "--st-slot: -1 is outside 0 to 9.22337e+18"),
        ("slot", "1.5", "--st-slot: expected a whole number"),
        ("timeout", "0", "--st-timeout must be more than 0 seconds"),
        ("tls_min_days", "x", "--st-tls-min-days: 'x' is not a number"),
        ("profile", "no-such-profile", "no-such-profile"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(field: str, text: str, message: str) -> None:
    with pytest.raises(profiles.ProfileError) as caught:
        settle(Options(**{field: text}), now=_clock())
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_without_a_target_the_embedded_server_takes_the_profiles_limit() -> None:
    profile = profiles.builtin("embedded")
    spec = target_source(Options(embedded_fault=("auth-open-route",)), profile)
    assert isinstance(spec, EmbeddedSpec)
    assert (spec.rate_per_second, spec.burst) == (
        profile.rate_limit.rate_per_second,
        profile.rate_limit.burst,
    )
    assert spec.faults == ("auth-open-route",) and spec.scenes == profile.scenes
    assert spec.mode == profile.kind and spec.request_log is None


def _token_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "token"
    path.write_text(text)
    return str(path)


def test_a_real_target_reads_its_token_and_checks_its_url(tmp_path: Path) -> None:
    token = mint_token()
    secret = tmp_path / "secret"
    secret.write_text("signing-secret\n")
    target = target_source(
        Options(target=" https://api.example:8443/ ", token_file=_token_file(tmp_path, token),
                secret_file=str(secret), manager_url="http://manager.example:8090"),
        profiles.builtin("spacetime"),
    )  # fmt: skip
    assert target == Target(
        "https://api.example:8443", "http://manager.example:8090", token, "signing-secret", False
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (Options(target="http://a.example", embedded_fault=("x",)), "only to the embedded"),
        (Options(target="http://a.example"), "a target needs a token"),
        (Options(target="ftp://a.example", token_file="TOKEN"), "is not an http://"),
        (Options(target="http://u:hunter2@a.example", token_file="TOKEN"), "credentials in"),
        (Options(target="http://a.example/?x=1", token_file="TOKEN"), "no query or fragment"),
        (Options(target="http://a.example", token_file="TOKEN", manager_url="a.example"),
         "--st-manager-url"),
    ],
)  # fmt: skip
def test_a_bad_target_is_one_line(tmp_path: Path, options: Options, message: str) -> None:
    if options.token_file == "TOKEN":
        options = dataclasses.replace(options, token_file=_token_file(tmp_path, mint_token()))
    with pytest.raises(TargetError) as caught:
        target_source(options, profiles.builtin("spacetime"))
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_token_file_that_is_no_jwt_is_told_without_quoting_it(tmp_path: Path) -> None:
    options = Options(target="http://a.example", token_file=_token_file(tmp_path, "<html>x"))
    with pytest.raises(TargetError, match="does not hold a JWT") as caught:
        target_source(options, profiles.builtin("spacetime"))
    assert "<html>" not in str(caught.value)


def test_make_run_carries_the_settings(tmp_path: Path) -> None:
    settings = settle(
        Options(results=str(tmp_path / "r.jsonl"), budget="90", slot="3"), now=_clock()
    )
    target = Target("http://a.example", None, mint_token(), None, False)
    run = make_run(settings, target, run_id="unit", state_dir=tmp_path / "state")
    assert run.controller and run.server is None and run.transport is None
    assert (run.profile, run.target, run.results_path) == (
        settings.profile,
        target,
        tmp_path / "r.jsonl",
    )
    assert (run.budget_s, run.slot, run.examples) == (90.0, 3, 1)
    assert run.http_metrics_path == tmp_path / "http.prom"
