"""The pure pieces of the corpus-form faults: legacy decoding and the loaders' rewrites.

Each fault's end-to-end effect is proven through HTTP in test_faults.py; here
the decoders and loader transforms are pinned to the behaviour they model,
and every fault's validator is shown to reject the plain climb, so each one
breaks in the one place it is named for.
"""

from __future__ import annotations

import pytest

from refserver import pathrules, scenepath
from refserver.config import Settings


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("%f8%80%80%80%ae", "."),
        ("%fc%80%80%80%80%af", "/"),
        ("%c0%ae", "."),
        ("%c0%qf", "/"),
        ("%c0%9v", "/"),
        ("%bg%qf", "/"),
        ("%c1%8s", "\\"),
        ("%c1%pc", "\\"),
        ("%c0.", "."),
        ("%e0%80.", "."),
        ("%252e", "."),
        ("ok%c3%a9", "oké"),
        ("tail%c0", "tail\ufffd"),
        ("%80x", "\ufffdx"),
    ],
)
def test_legacy_utf8_decode(raw: str, decoded: str) -> None:
    assert pathrules.legacy_utf8_decode(raw) == decoded


def test_the_oracle_rejects_what_the_legacy_decoder_accepts() -> None:
    for raw in ("%f8%80%80%80%ae", "%c0%qf", "%c0.", "%bg%qf"):
        assert not scenepath.is_valid(f"res://{raw}{raw}/x.tscn")


def _rule(name: str) -> pathrules.PathRule:
    post, _ = pathrules.rules_for(Settings(faults=frozenset({name})))
    assert post.name == name
    return post


CORPUS_FAULTS = [
    "traversal-percent25-detector",
    "traversal-strip-control",
    "traversal-lenient-overlong",
    "traversal-iis-percent-u",
    "traversal-wildcard-glob",
    "traversal-textual-hex",
    "traversal-dot-names-only",
    "traversal-trim-dots",
    "traversal-wrapper-scheme",
    "traversal-drive-relative",
]


@pytest.mark.parametrize("name", CORPUS_FAULTS)
def test_each_corpus_fault_still_rejects_the_plain_climb(name: str) -> None:
    rule = _rule(name)
    for raw in ("res://../../etc/passwd.tscn", "res://scenes/%2e%2e/x.tscn", "/etc/passwd"):
        assert not rule.validate(raw).valid, raw
    assert rule.validate("res://scenes/lobby.tscn").valid


@pytest.mark.parametrize(
    ("name", "raw", "loaded"),
    [
        ("traversal-percent25-detector", "res://%%32%65%%32%65/x.tscn", "res://../x.tscn"),
        ("traversal-strip-control", "res://.%00./x.tscn", "res://../x.tscn"),
        ("traversal-lenient-overlong", "res://%c0.%c0./x.tscn", "res://../x.tscn"),
        ("traversal-iis-percent-u", "res://%u002e%u002e%uF025x.tscn", "res://../x.tscn"),
        ("traversal-wildcard-glob", "res://.?/??/x.tscn", "res://../../x.tscn"),
        ("traversal-textual-hex", "res://.0x2e0x2fx.tscn", "res://../x.tscn"),
        ("traversal-trim-dots", "res://scenes/lobby.tscn. .", "res://scenes/lobby.tscn"),
        ("traversal-wrapper-scheme", "php://filter/resource=/etc/x.tscn", "/etc/x.tscn"),
        ("traversal-drive-relative", "res://c:etc/x.tscn", "/etc/x.tscn"),
    ],
)
def test_check_passes_and_the_loader_reads_something_else(name: str, raw: str, loaded: str) -> None:
    rule = _rule(name)
    checked = rule.validate(raw)
    assert checked.valid and checked.load_path is not None
    assert rule.prepare(checked.load_path) == loaded
    assert not scenepath.is_valid(raw)


def test_glob_picks_dotdot_only_for_patterns_that_match_it() -> None:
    assert pathrules._glob("res://.?/?./??/a?c/x.tscn") == "res://../../../a?c/x.tscn"


def test_conforming_reader_is_the_default() -> None:
    assert pathrules.reader_for(Settings()) is pathrules.read_conforming
