"""How a ``scene_path`` from a request becomes a file to load, conforming or faulty.

A rule is two steps: ``validate`` (the check, and the string it hands on) and
``prepare`` (what the loader does to that string before resolving it). The
conforming rule validates the fully decoded string and the loader uses it
as is, so what was checked is what is loaded. Each traversal fault is a rule
with one realistic mistake: a blocklist, checking before decoding, decoding
once, normalising in the loader, and so on.
"""

from __future__ import annotations

import fnmatch
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, unquote_to_bytes

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

# --- Faults for the forms of the public corpora ------------------------------------------

#: ``'.'`` and ``'..'`` rejected by name only (``'..' in path.split('/')``), not every
#: segment that starts with a dot; the variants add characters a loader will deal with.
_NAMED_DOTS = r"(?!\.\.?\Z)"
_NAMED_DOT_SEGMENT = re.compile(_NAMED_DOTS + r"[A-Za-z0-9_.\-]+\Z")
_NAMED_WITH_CONTROLS = re.compile(_NAMED_DOTS + r"[A-Za-z0-9_.\-\x00-\x1f\x7f-\x9f]+\Z")
_NAMED_WITH_GLOBS = re.compile(_NAMED_DOTS + r"[A-Za-z0-9_.\-?*]+\Z")
_NAMED_WITH_WINDOWS = re.compile(_NAMED_DOTS + r"[A-Za-z0-9_.\-:()$~]+\Z")
_DRIVE_ONLY = re.compile(r"[A-Za-z]:\Z")
_SEGMENT_WITH_REPLACEMENT = re.compile("[A-Za-z0-9_\\-%\ufffd][A-Za-z0-9_.\\-%\ufffd]*\\Z")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The 2-, 3- and 4-byte overlong UTF-8 forms the MS00-078-era patches refuse.
_CLASSIC_OVERLONG = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f]")
_LENIENT_ESCAPE = re.compile(rb"%([0-9A-Za-z])([0-9A-Za-z])")
_IIS_ESCAPE = re.compile(r"%[uU]([0-9A-Fa-f]{4})")
_TEXTUAL_HEX = re.compile(r"0[xX]([0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_WRAPPER = re.compile(r"\A(?:res://)?(?:[A-Za-z][A-Za-z0-9+.\-]*://)+")
_NAME_SEPARATORS = re.compile(r"[/=#]")
_URL_CHARS = re.compile(r"[A-Za-z0-9_.\-/:=;#+]*")
_SESSION_SEGMENT = re.compile(r"\([A-Z]\([^)]*\)\)\Z")


#: (following bytes, lead-byte mask) per RFC 2279, longest first.
_LEAD_BYTES = ((5, 0xFC), (4, 0xF8), (3, 0xF0), (2, 0xE0), (1, 0xC0))


def _hex_value(char: int) -> int:
    """A hex digit's value as a careless parser computes it: ``q`` is 26, not an error."""
    return char - 0x30 if char <= 0x39 else (char | 0x20) - 0x61 + 10


def legacy_utf8_decode(raw: str) -> str:
    """Percent-decoding and UTF-8 the way a pre-2003 decoder did it.

    Escapes take any two alphanumerics (``%qf`` is 26 * 16 + 15, low byte 0xaf);
    a lead byte takes as many following bytes as RFC 2279 says (5 and 6 bytes
    included) and uses their low six bits whatever they are; nothing checks for
    the shortest form. A lone continuation byte becomes U+FFFD.
    """
    data = raw.encode("utf-8", "surrogatepass")
    for _ in range(16):
        decoded = _LENIENT_ESCAPE.sub(
            lambda m: bytes([(_hex_value(m[1][0]) * 16 + _hex_value(m[2][0])) & 0xFF]), data
        )
        if decoded == data:
            break
        data = decoded
    out: list[str] = []
    i = 0
    while i < len(data):
        lead = data[i]
        if lead < 0x80:
            out.append(chr(lead))
            i += 1
            continue
        extra = next((n for n, top in _LEAD_BYTES if lead & top == top), 0)
        if extra == 0 or i + extra >= len(data):
            out.append("\ufffd")
            i += 1
            continue
        code = lead & (0x3F >> extra)
        for follower in data[i + 1 : i + 1 + extra]:
            code = code << 6 | follower & 0x3F
        out.append(chr(code) if code < 0x110000 and not 0xD800 <= code < 0xE000 else "\ufffd")
        i += 1 + extra
    return "".join(out)


def _lenient_overlong(raw: str) -> Checked:
    data = raw.encode("utf-8")
    for _ in range(16):
        decoded = unquote_to_bytes(data)
        if decoded == data:
            break
        data = decoded
    if _CLASSIC_OVERLONG.search(data):
        return Checked(False, None)
    text = data.decode("utf-8", errors="replace")
    return Checked(allowlist(text, segment=_SEGMENT_WITH_REPLACEMENT), raw)


def _percent25_detector(raw: str) -> Checked:
    if "%25" in raw.lower():
        return Checked(False, None)
    once = unquote(raw)
    return Checked(allowlist(once, segment=_SEGMENT_WITH_PERCENT), once)


def _strip_controls(path: str) -> str:
    return _CONTROLS.sub("", path)


def _iis_percent_u(path: str) -> str:
    def narrow(match: re.Match[str]) -> str:
        code = int(match[1], 16)
        # Best-fit narrowing has no ANSI character for the private-use area.
        return "/" if 0xE000 <= code <= 0xF8FF else chr(code)

    return unicodedata.normalize("NFKC", _IIS_ESCAPE.sub(narrow, path))


def _glob(path: str) -> str:
    """Each wildcard segment expands to the first directory entry it matches, ``..`` included."""
    head, sep, rest = path.partition("res://")
    body = rest if sep else head
    segments = [
        next((entry for entry in ("..", ".") if fnmatch.fnmatchcase(entry, s)), s)
        if "?" in s or "*" in s
        else s
        for s in body.split("/")
    ]
    return ("res://" if sep else "") + "/".join(segments)


def _textual_hex(path: str) -> str:
    return _TEXTUAL_HEX.sub(lambda m: chr(int(m[1], 16)), path)


def _win32_normal(path: str) -> str:
    """Win32 path normalisation: trailing dots and spaces trimmed, ``.`` segments dropped."""
    if not path.startswith("res://"):
        return path
    segments = [s.rstrip(". ") if s.strip(". ") else s for s in path[len("res://") :].split("/")]
    return "res://" + "/".join(s for s in segments if s != ".")


def _trim_dots(raw: str) -> Checked:
    try:
        normal = _win32_normal(scenepath.decode(raw))
    except scenepath.UndecodablePath:
        return Checked(False, None)
    verdict = scenepath.check_decoded(normal)
    return Checked(verdict.valid, normal)


def _any_scheme(path: str) -> bool:
    """Any ``scheme://`` URL; only the file name (after the last ``/``, ``=``, ``#``) is checked."""
    if _SCHEME.match(path) is None or ".." in path or len(path) > scenepath.MAX_LENGTH:
        return False
    name = _NAME_SEPARATORS.split(path)[-1]
    folder = path[: len(path) - len(name)]
    return _URL_CHARS.fullmatch(folder) is not None and _is_scene_name(name)


def _is_scene_name(name: str) -> bool:
    return _SEGMENT.match(name) is not None and name.endswith(".tscn")


def _unwrap(path: str) -> str:
    """A stream layer that follows wrappers to the file they read."""
    if "resource=" in path:
        return path.rsplit("resource=", 1)[1]
    return _WRAPPER.sub("", path).replace("#", "/")


def _windows_allowlist(path: str) -> bool:
    if not allowlist(path, segment=_NAMED_WITH_WINDOWS):
        return False
    return not any(_DRIVE_ONLY.match(s) for s in path[len("res://") :].split("/"))


def _drive_relative(path: str) -> str:
    """``c:name`` is relative to the drive's current directory (its root here);
    ``(S(...))`` cookieless-session segments are dropped, as ASP.NET does."""
    segments = [s for s in path.removeprefix("res://").split("/") if not _SESSION_SEGMENT.match(s)]
    if segments and re.match(r"[A-Za-z]:", segments[0]):
        return "/" + "/".join([segments[0][2:], *segments[1:]])
    return "res://" + "/".join(segments)


_CORPUS_RULES: tuple[PathRule, ...] = (
    PathRule("traversal-percent25-detector", _percent25_detector, _percent_decoded),
    PathRule(
        "traversal-strip-control",
        _decoded_then(lambda p: allowlist(p, segment=_NAMED_WITH_CONTROLS)),
        _strip_controls,
    ),
    PathRule("traversal-lenient-overlong", _lenient_overlong, legacy_utf8_decode),
    PathRule(
        "traversal-iis-percent-u",
        _decoded_then(lambda p: allowlist(p, segment=_SEGMENT_WITH_PERCENT)),
        _iis_percent_u,
    ),
    PathRule(
        "traversal-wildcard-glob",
        _decoded_then(lambda p: allowlist(p, segment=_NAMED_WITH_GLOBS)),
        _glob,
    ),
    PathRule(
        "traversal-textual-hex",
        _decoded_then(lambda p: allowlist(p, segment=_NAMED_DOT_SEGMENT)),
        _textual_hex,
    ),
    PathRule(
        "traversal-dot-names-only",
        _decoded_then(lambda p: allowlist(p, segment=_NAMED_DOT_SEGMENT)),
        _identity,
    ),
    PathRule("traversal-trim-dots", _trim_dots, _identity),
    PathRule("traversal-wrapper-scheme", _decoded_then(_any_scheme), _unwrap),
    PathRule("traversal-drive-relative", _decoded_then(_windows_allowlist), _drive_relative),
)


PUT_UNCHECKED = PathRule("traversal-put-unchecked", _seed_check_raw, _identity, check_exists=False)


def rules_for(settings: Settings) -> tuple[PathRule, PathRule]:
    """The (POST, PUT) rules; with several traversal faults the first in catalogue order wins."""
    post = next((r for r in (*_FAULTY_RULES, *_CORPUS_RULES) if settings.has(r.name)), CONFORMING)
    put = PUT_UNCHECKED if settings.has(PUT_UNCHECKED.name) else post
    return post, put


def lenient_decode(raw: str) -> str:
    """Best-effort decoding for the lookup-first fault's table lookup."""
    try:
        return scenepath.decode(raw)
    except scenepath.UndecodablePath:
        return raw


# --- Carriers: how a request carries its scene_path ---------------------------------------
#
# The conforming reader parses the body as JSON (duplicate keys refused) and hands
# one string to the rule above, so the string validated is the string loaded. Each
# carrier fault makes the check and the load read different things.


class BodyRejected(ValueError):
    """No usable ``scene_path`` in the request: the answer's status, error code and message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


@dataclass(frozen=True)
class Carried:
    """The string the rule validates and, where a fault makes them differ, the string loaded.

    ``checked`` None: the request reached the loader without the rule's check (a
    fault's own check, or none). ``loaded`` None: the loader receives ``checked``.
    """

    checked: str | None
    loaded: str | None = None


#: (body, Content-Type header, ``scene_path`` query parameter) -> what check and load see.
Reader = Callable[[bytes, str, str | None], Carried]

_BODY_SHAPE = 'body must be {"scene_path": "<res:// path>"}'
_BOM = b"\xef\xbb\xbf"
_SEGMENT_WITH_ESCAPES = re.compile(r"[A-Za-z0-9_\-\\][A-Za-z0-9_.\-\\]*\Z")
_RAW_FIELD = re.compile(r'"scene_path"\s*:\s*"((?:[^"\\]|\\.)*)"')


class _DuplicateKey(ValueError):
    pass


class _Pairs(list[tuple[str, object]]):
    """A JSON object as its key/value pairs in order, duplicates kept."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _DuplicateKey("duplicate key")
    return dict(pairs)


def _parse(
    body: bytes, hook: Callable[[list[tuple[str, object]]], object] = _unique_keys
) -> object:
    try:
        return json.loads(body, object_pairs_hook=hook)
    except _DuplicateKey:
        raise BodyRejected(400, "invalid_json", "duplicate key in the JSON object") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyRejected(400, "invalid_json", "body must be a JSON object") from None


def _as_path(value: object) -> str:
    if not isinstance(value, str):
        raise BodyRejected(400, "invalid_request", _BODY_SHAPE)
    try:
        # JSON may carry lone surrogates ("\ud800"); no such string is a valid path,
        # and scenepath.check would raise UnicodeEncodeError on it.
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyRejected(400, "invalid_scene_path", INVALID_MESSAGE) from None
    return value


def _field(data: object) -> object:
    return data.get("scene_path") if isinstance(data, dict) else None


def read_conforming(body: bytes, content_type: str, query: str | None) -> Carried:
    """The JSON body's ``scene_path``, a string; the query string and Content-Type play no part."""
    return Carried(_as_path(_field(_parse(body))))


def _read_first_checks_last_loads(body: bytes, content_type: str, query: str | None) -> Carried:
    data = _parse(body, _Pairs)
    values = [v for k, v in data if k == "scene_path"] if isinstance(data, _Pairs) else []
    if not values:
        raise BodyRejected(400, "invalid_request", _BODY_SHAPE)
    return Carried(_as_path(values[0]), _as_path(values[-1]))


def _read_query_overrides(body: bytes, content_type: str, query: str | None) -> Carried:
    return Carried(read_conforming(body, content_type, query).checked, query)


def _read_scan_raw_json(body: bytes, content_type: str, query: str | None) -> Carried:
    """The allowlist run over the JSON text as written (``\\`` let through for escapes).

    A regex over the raw body, WAF-style; the parsed value, its escapes decoded,
    is what is loaded.
    """
    found = _RAW_FIELD.search(body.decode("utf-8", errors="replace"))
    parsed = read_conforming(body, content_type, query)
    if found is None:
        return parsed
    literal = _percent_decoded(found[1])
    if ".." in literal or not allowlist(literal, segment=_SEGMENT_WITH_ESCAPES):
        raise BodyRejected(400, "invalid_scene_path", INVALID_MESSAGE)
    return Carried(None, parsed.checked)


def _read_lenient_body(body: bytes, content_type: str, query: str | None) -> Carried:
    """The checking layer inspects strict JSON only; the handler reads any body it can."""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "application/json" and not body.startswith(_BOM):
        return read_conforming(body, content_type, query)
    try:
        value = _field(json.loads(body.decode("utf-8-sig")))
    except (ValueError, UnicodeDecodeError):
        value = parse_qs(body.decode("utf-8", errors="replace")).get("scene_path", [None])[0]
    return Carried(None, _as_path(value))


def _read_untyped(body: bytes, content_type: str, query: str | None) -> Carried:
    data = _parse(body)
    if not isinstance(data, dict) or "scene_path" not in data:
        raise BodyRejected(400, "invalid_request", _BODY_SHAPE)
    value: Any = data["scene_path"]
    value.encode("utf-8")  # the surrogate guard, on whatever the JSON held
    return Carried(value)


_CARRIER_FAULTS: tuple[tuple[str, Reader], ...] = (
    ("traversal-duplicate-key-last", _read_first_checks_last_loads),
    ("traversal-query-override", _read_query_overrides),
    ("traversal-json-escape-scan", _read_scan_raw_json),
    ("traversal-lenient-body", _read_lenient_body),
    ("traversal-nonstring-500", _read_untyped),
)


def reader_for(settings: Settings) -> Reader:
    """How ``POST``/``PUT /scene`` read ``scene_path``; the first carrier fault named wins."""
    return next((read for name, read in _CARRIER_FAULTS if settings.has(name)), read_conforming)
