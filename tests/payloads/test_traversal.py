"""Every generated scene path is invalid per the contract's oracle.

A payload the oracle accepts would make a conforming server look broken (it
would answer 404 or 200, not 400), so invalidity is checked on every draw.
Each category is also checked for its defining trait, so a category cannot
silently degrade into plain ``../`` and leave its trick untested.
"""

from __future__ import annotations

import fnmatch
import json
import re
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.payloads import traversal
from refserver import scenepath

EXPECTED_CATEGORIES = [
    "plain",
    "backslash",
    "mixed-separators",
    "percent-single",
    "percent-double",
    "percent-partial",
    "overlong-utf8",
    "percent-u",
    "nfkc-fold",
    "nul-control",
    "filter-bypass",
    "absolute-path",
    "other-scheme",
    "wrong-extension",
    "over-long",
    "dot-segments",
    "whitespace-and-quotes",
    "percent-percent",
    "control-split-dots",
    "overlong-legacy",
    "wildcard-dots",
    "textual-hex",
    "percent-stripped",
    "dot-padding",
    "wrapper-scheme",
    "windows-forms",
]

_ALLOWED_PATH = re.compile(
    r"res://(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]*/)*[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\.tscn\Z"
)
_ABSOLUTE = re.compile(r"(/|\\\\|~/|res:///|res://[A-Za-z]:|[A-Za-z]:[\\/])")


def _undecodable(payload: str) -> bool:
    try:
        scenepath.decode(payload)
    except scenepath.UndecodablePath:
        return True
    return False


def _segments(payload: str) -> list[str]:
    return scenepath.decode(payload).removeprefix("res://").split("/")


def _dot_segments(payload: str) -> bool:
    segments = _segments(payload)
    return ".." not in segments and any(s == "" or s.startswith(".") for s in segments)


def _control_split_dots(payload: str) -> bool:
    decoded = scenepath.decode(payload)
    stripped = "".join(c for c in decoded if unicodedata.category(c) != "Cc")
    return stripped != decoded and re.search(r"\.\.[/\\]", stripped) is not None


#: A legacy UTF-8 form: a 5- or 6-byte lead, a lead byte followed by a byte that
#: is no continuation byte, or an escape with a "hex" digit past f.
_LEGACY_OVERLONG = re.compile(r"%(f8|fc)%|%(c0|c1|e0%80)(\.|/)|%[0-9a-z]?[g-z]", re.I)


def _overlong_legacy(payload: str) -> bool:
    if _LEGACY_OVERLONG.search(payload) is None:
        return False
    return _undecodable(payload) or "%" in scenepath.decode(payload)


def _wildcard_dots(payload: str) -> bool:
    segments = re.split(r"[/\\]", scenepath.decode(payload))
    return any("?" in s and fnmatch.fnmatchcase("..", s) for s in segments)


def _dot_padding(payload: str) -> bool:
    decoded = scenepath.decode(payload)
    return decoded.endswith((".", " ")) or "/./" in decoded


_WRAPPER = re.compile(r"(php|expect|zip|phar|compress\.zlib|glob|data)://|url:", re.I)
_WINDOWS_FORM = re.compile(r"(\A|//)[A-Za-z]:[^/]|\([SAF]\(|:(:\$DATA|Zone|\$I30)")


def _wrong_extension(payload: str) -> bool:
    decoded = scenepath.decode(payload)
    last = decoded.rsplit("/", 1)[-1]
    return decoded.startswith("res://") and (not decoded.endswith(".tscn") or last[:1] == ".")


#: The trait that defines each category, checked on the raw or decoded string.
TRAITS: dict[str, Callable[[str], bool]] = {
    "plain": lambda s: "../" in s,
    "backslash": lambda s: "\\" in scenepath.decode(s),
    "mixed-separators": lambda s: {"/", "\\"} <= set(scenepath.decode(s).removeprefix("res://")),
    "percent-single": lambda s: (
        re.search("%2e", s, re.I) is not None and "%25" not in s and ".." in scenepath.decode(s)
    ),
    "percent-double": lambda s: "%25" in s and ".." in scenepath.decode(s),
    "percent-partial": lambda s: (
        re.search("%(2e|2f|5c)", s, re.I) is not None
        and "%25" not in s
        and ".." in scenepath.decode(s)
    ),
    "overlong-utf8": _undecodable,
    "percent-u": lambda s: "%u" in scenepath.percent_decode_fully(s).lower(),
    "nfkc-fold": lambda s: scenepath.decode(s) != scenepath.percent_decode_fully(s),
    "nul-control": lambda s: any(unicodedata.category(c) == "Cc" for c in scenepath.decode(s)),
    "filter-bypass": lambda s: "..." in s or "..;" in s,
    "absolute-path": lambda s: _ABSOLUTE.match(scenepath.decode(s)) is not None,
    "other-scheme": lambda s: not scenepath.decode(s).startswith("res://"),
    "wrong-extension": _wrong_extension,
    "over-long": lambda s: (
        len(scenepath.decode(s)) > scenepath.MAX_LENGTH
        and _ALLOWED_PATH.match(scenepath.decode(s)) is not None
    ),
    "dot-segments": _dot_segments,
    "whitespace-and-quotes": lambda s: any(
        c.isspace() or c in "'\"<>;|&`$" for c in scenepath.decode(s)
    ),
    "percent-percent": lambda s: (
        re.search(r"%(%|[0-9a-f]%)", s, re.I) is not None
        and "%25" not in s
        and ".." in scenepath.decode(s)
    ),
    "control-split-dots": _control_split_dots,
    "overlong-legacy": _overlong_legacy,
    "wildcard-dots": _wildcard_dots,
    "textual-hex": lambda s: re.search(r"0x(2e|2f|5c)", s, re.I) is not None,
    "percent-stripped": lambda s: (
        "%" not in s and re.search(r"\.\.(2f|5c|c0af|252f)", s, re.I) is not None
    ),
    "dot-padding": _dot_padding,
    "wrapper-scheme": lambda s: _WRAPPER.search(s) is not None,
    "windows-forms": lambda s: _WINDOWS_FORM.search(scenepath.decode(s)) is not None,
}


def _assert_payload(name: str, payload: str) -> None:
    assert isinstance(payload, str)
    verdict = scenepath.check(payload)
    assert not verdict.valid, f"{name}: oracle accepts {payload!r} as {verdict.decoded!r}"
    # Strict UTF-8 encoding rejects lone surrogates; JSON must round-trip.
    payload.encode("utf-8")
    assert json.loads(json.dumps(payload)) == payload
    assert json.loads(json.dumps(payload, ensure_ascii=False)) == payload
    assert TRAITS[name](payload), f"{name}: {payload!r} lacks the category's trait"


def test_categories_are_named_and_ordered() -> None:
    assert traversal.category_names() == EXPECTED_CATEGORIES
    assert list(traversal.CATEGORIES) == EXPECTED_CATEGORIES
    assert list(TRAITS) == EXPECTED_CATEGORIES


def test_examples_cover_every_category() -> None:
    assert list(traversal.EXAMPLES) == EXPECTED_CATEGORIES
    for name, examples in traversal.EXAMPLES.items():
        assert 2 <= len(examples) <= 4, name
        assert len(set(examples)) == len(examples), name


@pytest.mark.parametrize("name", EXPECTED_CATEGORIES)
def test_examples_are_invalid_and_typical(name: str) -> None:
    for payload in traversal.EXAMPLES[name]:
        _assert_payload(name, payload)


@pytest.mark.parametrize("name", EXPECTED_CATEGORIES)
@settings(max_examples=200, deadline=None, database=None)
@given(data=st.data())
def test_every_draw_is_invalid_and_typical(name: str, data: st.DataObject) -> None:
    _assert_payload(name, data.draw(traversal.CATEGORIES[name], label=name))


def test_over_long_examples_span_boundary_and_kilobytes() -> None:
    lengths = [len(scenepath.decode(p)) for p in traversal.EXAMPLES["over-long"]]
    assert min(lengths) == scenepath.MAX_LENGTH + 1
    assert max(lengths) >= 4096


def test_valid_neighbours_stay_valid() -> None:
    """The paths the categories are built around are valid, so each defect is the one added."""
    for path in ("res://vr_main.tscn", "res://scenes/levels/level_01.tscn", "res://x.tscn.tscn"):
        assert scenepath.is_valid(path), path
