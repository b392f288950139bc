"""How a ``scene_path`` from a request becomes a file to load, conforming or faulty.

A rule is two steps: ``validate`` (the check, and the string it hands on) and
``prepare`` (what the loader does to that string before resolving it). The
conforming rule validates the fully decoded string and the loader uses it
as is, so what was checked is what is loaded. Each traversal fault is a rule
with one realistic mistake: a blocklist, checking before decoding, decoding
once, normalising in the loader, and so on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes

from refserver import scenepath
from refserver.config import Settings

_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\Z")
_SEGMENT_WITH_PERCENT = re.compile(r"[A-Za-z0-9_\-%][A-Za-z0-9_.\-%]*\Z")

INVALID_MESSAGE = (
    "scene_path must be res:// then '/'-separated segments of letters, digits, '_', '-' "
    "and '.' (not starting with '.'), ending in .tscn, at most 256 characters after decoding"
)


@dataclass(frozen=True)
class Checked:
    """The validation outcome; ``load_path`` is the string handed to the loader."""

    valid: bool
    load_path: str | None


@dataclass(frozen=True)
class PathRule:
    """One way of validating and loading; ``name`` is ``conforming`` or a fault's name.

    ``lookup_first`` is ``traversal-exists-first``: the scene table is
    consulted before validation, so unknown paths get 404 whatever they are.
    ``check_exists=False`` lets ``PUT`` call any path that passes ``validate``
    valid without asking whether it names a scene (``traversal-put-unchecked``).
    """

    name: str
    validate: Callable[[str], Checked]
    prepare: Callable[[str], str]
    lookup_first: bool = False
    check_exists: bool = True


def _identity(path: str) -> str:
    return path


def seed_check(path: str) -> bool:
    """The seed's own check (deployment guide, "Input Validation"): a blocklist."""
    return path.startswith("res://") and ".." not in path and path.endswith(".tscn")


def allowlist(
    path: str,
    *,
    segment: re.Pattern[str] = _SEGMENT,
    max_length: int | None = scenepath.MAX_LENGTH,
    suffix_only: bool = True,
) -> bool:
    """The contract's allowlist with knobs, so faulty variants differ in one place only."""
    if max_length is not None and len(path) > max_length:
        return False
    if not path.startswith("res://"):
        return False
    segments = path[len("res://") :].split("/")
    if not all(segment.match(s) for s in segments):
        return False
    return segments[-1].endswith(".tscn") if suffix_only else ".tscn" in path


def _conforming(raw: str) -> Checked:
    verdict = scenepath.check(raw)
    return Checked(verdict.valid, verdict.decoded if verdict.valid else None)


def _seed_check_percent_decoded(raw: str) -> Checked:
    try:
        decoded = scenepath.percent_decode_fully(raw)
    except scenepath.UndecodablePath:
        return Checked(False, None)
    return Checked(seed_check(decoded), decoded)


def _validate_before_decode(raw: str) -> Checked:
    return Checked(allowlist(raw, segment=_SEGMENT_WITH_PERCENT), raw)


def _single_decode(raw: str) -> Checked:
    once = unquote(raw)
    return Checked(seed_check(once), once)


def _nfkc(path: str) -> str:
    return unicodedata.normalize("NFKC", path)


def _slash_only(raw: str) -> Checked:
    try:
        decoded = scenepath.decode(raw)
    except scenepath.UndecodablePath:
        return Checked(False, None)
    ok = (
        decoded.startswith("res://")
        and decoded.endswith(".tscn")
        and "../" not in decoded
        and "/.." not in decoded
    )
    return Checked(ok, decoded)


def _decode_unguarded(raw: str) -> Checked:
    # The developer's own decode loop; nobody expected a UnicodeDecodeError.
    current = raw
    for _ in range(16):
        decoded = unquote_to_bytes(current).decode("utf-8")
        if decoded == current:
            break
        current = decoded
    verdict = scenepath.check_decoded(unicodedata.normalize("NFKC", current))
    return Checked(verdict.valid, verdict.decoded if verdict.valid else None)


def _decoded_then(check: Callable[[str], bool]) -> Callable[[str], Checked]:
    def validate(raw: str) -> Checked:
        try:
            decoded = scenepath.decode(raw)
        except scenepath.UndecodablePath:
            return Checked(False, None)
        return Checked(check(decoded), decoded)

    return validate


def _percent_decoded(path: str) -> str:
    try:
        return scenepath.percent_decode_fully(path)
    except scenepath.UndecodablePath:
        return path


def _seed_check_raw(raw: str) -> Checked:
    return Checked(seed_check(raw), raw)


CONFORMING = PathRule("conforming", _conforming, _identity)

_FAULTY_RULES: tuple[PathRule, ...] = (
    PathRule("traversal-blocklist", _seed_check_percent_decoded, _identity),
    PathRule("traversal-validate-before-decode", _validate_before_decode, _percent_decoded),
    PathRule("traversal-single-decode", _single_decode, unquote),
    PathRule("traversal-no-nfkc", _seed_check_percent_decoded, _nfkc),
    PathRule("traversal-slash-only-check", _slash_only, _identity),
    PathRule("traversal-crash-500", _decode_unguarded, _identity),
    PathRule("traversal-exists-first", _conforming, _identity, lookup_first=True),
    PathRule(
        "traversal-no-length-limit",
        _decoded_then(lambda p: allowlist(p, max_length=None)),
        _identity,
    ),
    PathRule(
        "traversal-contains-ext",
        _decoded_then(lambda p: allowlist(p, suffix_only=False)),
        _identity,
    ),
)

PUT_UNCHECKED = PathRule("traversal-put-unchecked", _seed_check_raw, _identity, check_exists=False)


def rules_for(settings: Settings) -> tuple[PathRule, PathRule]:
    """The (POST, PUT) rules; with several traversal faults the first in catalogue order wins."""
    post = next((r for r in _FAULTY_RULES if settings.has(r.name)), CONFORMING)
    put = PUT_UNCHECKED if settings.has(PUT_UNCHECKED.name) else post
    return post, put


def lenient_decode(raw: str) -> str:
    """Best-effort decoding for the lookup-first fault's table lookup."""
    try:
        return scenepath.decode(raw)
    except scenepath.UndecodablePath:
        return raw
