"""The scene-path oracle: the contract's examples, and input no decoder should choke on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refserver import scenepath


@pytest.mark.parametrize(
    "path",
    [
        "res://vr_main.tscn",
        "res://scenes/levels/level_01.tscn",
        "res://a%252fb.tscn",
        "res://ａ.tscn",
    ],
)
def test_valid(path: str) -> None:
    assert scenepath.is_valid(path)


@pytest.mark.parametrize(
    "path",
    [
        "res://%2e%2e/x.tscn",
        "res://a/../b.tscn",
        "res://%c0%ae%c0%ae/x.tscn",
        "res:///x.tscn",
        "res://a\\b.tscn",
        "res://.x.tscn",
        "res://x.tscn ",
        "res://a\ud800.tscn",
        "res://" + "a" * 251 + ".tscn",
        "user://x.tscn",
        "res://x.gd",
    ],
)
def test_invalid(path: str) -> None:
    assert not scenepath.is_valid(path)


@given(st.text())
def test_never_raises(raw: str) -> None:
    verdict = scenepath.check(raw)
    assert verdict.valid == (verdict.decoded is not None and verdict.reason == "ok")
