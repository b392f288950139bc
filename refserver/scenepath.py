"""The contract's scene-path rule, as one pure function.

It lives with the reference server because the server must validate the very
string it loads; the payload self-tests reuse it as the oracle that every
generated attack really is invalid. Blackbox probes never import it: they
only assert the target's answers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

MAX_LENGTH = 256
_PREFIX = "res://"
_SEGMENT = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\Z")
_MAX_DECODE_ROUNDS = 16


class UndecodablePath(ValueError):
    """Percent-decoding produced bytes that are not UTF-8 (overlong forms, lone bytes)."""


@dataclass(frozen=True)
class Verdict:
    """Why a path is (in)valid; ``decoded`` is the string the server would load."""

    valid: bool
    decoded: str | None
    reason: str


def percent_decode_fully(raw: str) -> str:
    """Percent-decode until the string stops changing, strictly as UTF-8.

    Repeating closes double and triple encoding; strict UTF-8 turns overlong
    forms such as ``%c0%ae`` into an error instead of a silent ``.``.
    """
    current = raw
    for _ in range(_MAX_DECODE_ROUNDS):
        try:
            # Encoding the str first fails on lone surrogates (JSON allows "\ud800").
            decoded = unquote_to_bytes(current).decode("utf-8", errors="strict")
        except (UnicodeDecodeError, UnicodeEncodeError) as exc:
            raise UndecodablePath(str(exc)) from exc
        if decoded == current:
            return decoded
        current = decoded
    raise UndecodablePath(f"percent-encoding nested deeper than {_MAX_DECODE_ROUNDS} levels")


def decode(raw: str) -> str:
    """The contract's full decoding: percent-decoding to a fixpoint, then NFKC."""
    return unicodedata.normalize("NFKC", percent_decode_fully(raw))


def check_decoded(path: str) -> Verdict:
    """Apply the allowlist to an already decoded path."""
    if len(path) > MAX_LENGTH:
        return Verdict(False, path, f"longer than {MAX_LENGTH} characters")
    if not path.startswith(_PREFIX):
        return Verdict(False, path, "does not start with res://")
    segments = path[len(_PREFIX) :].split("/")
    for segment in segments:
        if not _SEGMENT.match(segment):
            return Verdict(False, path, f"segment {segment[:40]!r} is not allowed")
    if not segments[-1].endswith(".tscn"):
        return Verdict(False, path, "does not end with .tscn")
    return Verdict(True, path, "ok")


def check(raw: str) -> Verdict:
    """Decode fully, then apply the allowlist: the conforming server's rule."""
    try:
        decoded = decode(raw)
    except UndecodablePath as exc:
        return Verdict(False, None, f"not decodable: {exc}")
    return check_decoded(decoded)


def is_valid(raw: str) -> bool:
    return check(raw).valid
