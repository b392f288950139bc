"""The fake filesystem's naive resolution and the path rules, without HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refserver import scenepath
from refserver.config import DEFAULT_SCENES, Settings
from refserver.pathrules import CONFORMING, rules_for
from refserver.scenes import FakeFilesystem, SceneStore, scene_name

FS = FakeFilesystem(DEFAULT_SCENES)


@pytest.mark.parametrize(
    ("path", "resolved"),
    [
        ("res://vr_main.tscn", "/srv/spacetime/vr_main.tscn"),
        ("res://scenes/../vr_main.tscn", "/srv/spacetime/vr_main.tscn"),
        ("res://scenes\\..\\vr_main.tscn", "/srv/spacetime/vr_main.tscn"),
        ("res://../../../../etc/passwd", "/etc/passwd"),
        ("res:///etc/passwd", "/etc/passwd"),
        ("/etc/passwd", "/etc/passwd"),
        ("C:\\etc\\passwd", "/etc/passwd"),
        ("res://x/../../../etc/passwd\x00.tscn", "/etc/passwd"),
        ("scenes/lobby.tscn", "/srv/spacetime/scenes/lobby.tscn"),
        ("res://.//./scenes//lobby.tscn", "/srv/spacetime/scenes/lobby.tscn"),
    ],
)
def test_resolve_like_a_naive_loader(path: str, resolved: str) -> None:
    assert FS.resolve(path) == resolved


def test_open_finds_scenes_and_passwd_and_nothing_else() -> None:
    scene = FS.open("res://scenes/lobby.tscn")
    assert scene is not None and scene.res_path == "res://scenes/lobby.tscn"
    for leak in ("res:///etc/passwd", "res://../../etc/passwd.tscn", "/etc/passwd\x00.tscn"):
        found = FS.open(leak)
        assert found is not None and found.content is not None
        assert "root:x:0:0:root:/root:/bin/bash" in found.content
    assert FS.open("res://scenes/missing.tscn") is None
    assert FS.open("res:///etc/shadow") is None


@given(st.text(alphabet="abc._-/", max_size=60))
def test_valid_paths_never_leave_the_project(tail: str) -> None:
    raw = "res://" + tail + ".tscn"
    verdict = scenepath.check(raw)
    if verdict.valid and verdict.decoded is not None:
        found = FS.open(verdict.decoded)
        assert found is None or found.res_path is not None


def test_scene_store_history_is_bounded_and_starts_with_first_scene() -> None:
    store = SceneStore(DEFAULT_SCENES, now=1.0)
    assert store.current == "res://vr_main.tscn"
    assert store.name == "vr_main"
    assert [e.scene_path for e in store.history] == ["res://vr_main.tscn"]
    for i in range(150):
        store.record(f"res://s{i}.tscn", float(i), 1.0, True)
    assert len(store.history) == 100
    assert store.history[-1].scene_path == "res://s149.tscn"


def test_scene_name_is_the_stem() -> None:
    assert scene_name("res://scenes/levels/level_01.tscn") == "level_01"


def test_rules_pick_conforming_and_faulty_variants() -> None:
    assert rules_for(Settings()) == (CONFORMING, CONFORMING)
    post, put = rules_for(Settings(faults=frozenset({"traversal-put-unchecked"})))
    assert post is CONFORMING and put.name == "traversal-put-unchecked"
    post, put = rules_for(Settings(faults=frozenset({"traversal-no-nfkc"})))
    assert post.name == put.name == "traversal-no-nfkc"
