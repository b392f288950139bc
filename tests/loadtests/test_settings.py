"""Options and the probes' target profile turned into settings; the production guard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtests.settings import SettingsError, build, refuse_production, token_path
from probes.profile import from_str

# What the probes' profile requires of any SpaceTime target.
REQUIRED = "rate_limit: {rate_per_second: 10, burst: 20}\nscenes: [res://vr_main.tscn]\n"
PROD = from_str(f"name: prod\nenvironment: production\ntarget: https://api.example.com\n{REQUIRED}")
STAGING = """
name: staging
environment: staging
target: https://staging.example.com:8080/
manager_url: https://staging.example.com:8090/
token_file: /run/secrets/spacetime_jwt
rate_limit: {rate_per_second: 10, burst: 20}
sla: {threshold_ms: 150, percentile: 99, min_samples: 20}
scenes: [res://vr_main.tscn, res://scenes/lobby.tscn]
"""


def options(**values: Any) -> dict[str, Any]:
    return {"host": None, **values}


def test_a_probe_profile_gives_target_sla_scenes_manager_and_token() -> None:
    built = build(options(), from_str(STAGING))
    assert built.target == "https://staging.example.com:8080"
    assert built.manager_url == "https://staging.example.com:8090"
    assert built.environment == "staging" and built.profile_name == "staging"
    assert (built.policy.sla_ms, built.policy.percentile) == (150.0, 99.0)
    assert built.scenes == ("res://vr_main.tscn", "res://scenes/lobby.tscn")
    assert built.token_file == Path("/run/secrets/spacetime_jwt")


def test_target_comes_from_host_or_profile() -> None:
    assert build(options(), PROD).target == "https://api.example.com"
    assert build(options(host="http://127.0.0.1:9/"), PROD).target == "http://127.0.0.1:9"
    assert build(options(host="http://u:p@127.0.0.1:9/"), None).target == "http://127.0.0.1:9"


def test_production_is_refused_unless_allowed() -> None:
    line = refuse_production(build(options(), PROD))
    assert line is not None and "production" in line and "--st-allow-production" in line
    assert refuse_production(build(options(st_allow_production=True), PROD)) is None


def test_a_remote_target_needs_to_say_its_environment() -> None:
    with pytest.raises(SettingsError, match="--st-environment"):
        build(options(host="https://api.example.com"), None)
    assert build(options(host="http://localhost:8080"), None).environment == "local"
    built = build(options(host="https://api.example.com", st_environment="production"), None)
    assert refuse_production(built) is not None


def test_sla_from_options_over_profile() -> None:
    profile = from_str(STAGING)
    assert build(options(), profile).policy.sla_ms == 150
    assert build(options(st_sla_ms=300.0), profile).policy.sla_ms == 300
    assert build(options(), profile).policy.percentile == 99


def test_defaults_without_a_profile() -> None:
    built = build(options(host="http://127.0.0.1:9"), None)
    assert (built.policy.sla_ms, built.policy.percentile) == (200.0, 95.0)
    assert built.scenes == ("res://vr_main.tscn",) and built.profile_name == "adhoc"


def test_only_spacetime_profiles_drive_the_load_users() -> None:
    vtt = from_str(f"name: v\nenvironment: local\nkind: vtt\n{REQUIRED}")
    with pytest.raises(SettingsError, match=r"^profile v is of kind vtt: .*SpaceTime API only$"):
        build(options(), vtt)


def test_open_model_options() -> None:
    built = build(options(st_open_rate=200.0, st_open_connections=4, st_open_late_ms=5.0), None)
    assert built.open_model is not None
    assert built.open_model.rate_per_s == 200 and built.open_model.late_after_s == 0.005
    with pytest.raises(SettingsError, match="exclusive"):
        build(options(st_open_rate=10.0, st_shape="step"), None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"st_shape": "sawtooth"}, "--st-shape"),
        ({"st_sla_ms": 0.0}, "--st-sla-ms"),
        ({"st_max_error_ratio": 2.0}, "--st-max-error-ratio"),
        ({"st_open_rate": -1.0}, "--st-open-rate"),
        ({"st_think_scale": -1.0}, "--st-think-scale"),
        ({"host": "ftp://x"}, "--host"),
    ],
)
def test_bad_options(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        build(options(**values), None)


def test_token_path_defaults_to_the_servers_file(tmp_path: Path) -> None:
    assert token_path(build(options(), None), cwd=tmp_path) == tmp_path / "jwt_token.txt"
    profile = from_str(f"name: s\nenvironment: local\ntoken_file: /run/secrets/jwt\n{REQUIRED}")
    assert token_path(build(options(), profile), cwd=tmp_path) == Path("/run/secrets/jwt")


def test_the_pure_modules_import_neither_locust_nor_pytest() -> None:
    """The logic is usable (and tested) without Locust; the profile loader without pytest."""
    code = (
        "import sys; import loadtests.settings, loadtests.summary, loadtests.capacity, "
        "loadtests.results, loadtests.schedule; "
        "print(sorted(m for m in ('locust', 'gevent', 'pytest') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"
