"""Settings from CLI, environment and defaults; every bad value is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from refserver.__main__ import build_parser
from refserver.config import DEFAULT_SCENES, ConfigError, Settings, settings_from


def _settings(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return settings_from(vars(build_parser().parse_args(argv)), env or {})


def test_defaults_match_the_documented_table() -> None:
    s = _settings([])
    assert (s.host, s.port, s.manager_port) == ("127.0.0.1", 8080, 8090)
    assert s.token_file == Path("jwt_token.txt")
    assert s.secret_file is None
    assert (s.issuer, s.token_ttl_seconds) == ("spacetime", 86400)
    assert (s.rate_per_second, s.burst) == (50.0, 50)
    assert s.scenes == DEFAULT_SCENES
    assert s.faults == frozenset()
    assert (s.stall_period_seconds, s.stall_seconds) == (3.0, 1.0)


def test_environment_then_cli_precedence() -> None:
    env = {
        "REFSERVER_PORT": "9000",
        "REFSERVER_BURST": "7",
        "REFSERVER_SCENES": "res://a.tscn, res://b/c.tscn",
        "REFSERVER_TRUSTED_PROXY": "10.0.0.1,::1",
        "REFSERVER_LATENCY_MS": "12.5",
        "REFSERVER_STALL_S": "0.5",
    }
    s = _settings(["--port", "0"], env)
    assert s.port == 0
    assert s.burst == 7
    assert s.scenes == ("res://a.tscn", "res://b/c.tscn")
    assert s.trusted_proxies == frozenset({"10.0.0.1", "::1"})
    assert s.latency_ms == 12.5
    assert s.stall_seconds == 0.5
    assert _settings(["--scene", "res://x.tscn"], env).scenes == ("res://x.tscn",)


def test_faults_from_cli_add_to_the_environment() -> None:
    s = _settings(["--fault", "perf-low-fps"], {"REFSERVER_FAULTS": "auth-403, latency-tail"})
    assert s.faults == {"perf-low-fps", "auth-403", "latency-tail"}
    assert s.has("auth-403")
    assert not s.has("auth-no-challenge")


def test_has_refuses_unregistered_names() -> None:
    with pytest.raises(KeyError):
        Settings().has("auth-typo")


@pytest.mark.parametrize(
    ("argv", "env", "fragment"),
    [
        ([], {"REFSERVER_FAULTS": "nope"}, "unknown fault 'nope'"),
        (["--fault", "nope"], {}, "valid: auth-open-route"),
        ([], {"REFSERVER_PORT": "http"}, "REFSERVER_PORT"),
        ([], {"REFSERVER_RATE": "0"}, "REFSERVER_RATE"),
        ([], {"REFSERVER_TRUSTED_PROXY": "proxy.local"}, "not an IP address"),
        (["--scene", "res://../x.tscn"], {}, "not a plain valid"),
        (["--scene", "res://a.tscn", "--scene", "res://a.tscn"], {}, "distinct"),
        ([], {"REFSERVER_STALL_S": "5"}, "shorter"),
    ],
)
def test_bad_values_are_config_errors(argv: list[str], env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        _settings(argv, env)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "70000"], ["--burst", "0"], ["--rate", "-1"], ["--latency-ms", "x"],
        # service time
        ["--latency-jitter-ms", "-5"], ["--latency-tail-ratio", "2"],
        ["--latency-tail-ratio", "nan"], ["--latency-tail-ms", "slow"],
        ["--latency-seed", "1.5"],
        # claim rules
        ["--issuer", "x", "--no-issuer"], ["--max-token-lifetime", "1h"],
        ["--max-token-lifetime", "-5"], ["--audience", ""],
    ],
)  # fmt: skip
def test_bad_cli_values_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("refserver: error: ")
    assert argv[0] in err
