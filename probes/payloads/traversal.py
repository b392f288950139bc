"""Invalid scene paths, grouped by the encoding trick each one relies on.

The contract decodes a ``scene_path`` fully (percent-decoding to a fixpoint,
then NFKC) and accepts it only if it matches an allowlist. A server that uses
a blocklist instead, decodes once, or decodes after validating lets some of
these through; grouping them by category lets a report say *which* trick got
through rather than just "traversal failed".

Every strategy is built so that what it draws is invalid by construction
(no ``.filter()``), because a filter that rejects most draws makes hypothesis
slow and flaky. The self-tests confirm each draw against the reference
oracle, which this module must not import: probes are blackbox.

``EXAMPLES`` holds the classic hand-picked forms, so a probe still sends them
when it can afford only a few hypothesis examples.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------

#: Where a request plausibly starts: the project root, a scene folder, or
#: nothing at all (a bare relative path).
_PREFIXES: tuple[str, ...] = (
    "res://",
    "res://scenes/",
    "res://scenes/levels/",
    "res://vr/",
    "",
)

#: Files an attacker would want: host secrets, the Godot project's own
#: configuration, the server's token file, and a scene-like tail that a
#: suffix-only check would wave through. All use ``/`` as separator; the
#: categories rewrite separators as they need.
_TARGETS: tuple[str, ...] = (
    "etc/passwd",
    "etc/shadow",
    "etc/hosts",
    "proc/self/environ",
    "root/.ssh/id_rsa",
    "project.godot",
    "override.cfg",
    "export_presets.cfg",
    ".godot/uid_cache.bin",
    "jwt_token.txt",
    "windows/win.ini",
    "vr_main.tscn",
    "scenes/vr_main.tscn",
)

#: Folder names that exist in a typical project, used to climb out of
#: ("scenes/../") and to build otherwise valid paths.
_DIRS: tuple[str, ...] = ("scenes", "levels", "vr", "ui", "addons")

#: Scene file stems that look like the ones a real server knows.
_STEMS: tuple[str, ...] = ("vr_main", "main_menu", "player", "level_01", "hud")

_depths = st.integers(min_value=1, max_value=8)


def _pct(text: str, *, upper: bool = False, levels: int = 1) -> str:
    """Percent-encode every UTF-8 byte of ``text``, nested ``levels`` deep.

    Level 2 encodes the ``%`` of level 1 (``.`` -> ``%2e`` -> ``%252e``),
    which is what a decode-once server turns back into a live ``%2e``.
    """
    encoded = "".join(("%{:02X}" if upper else "%{:02x}").format(b) for b in text.encode("utf-8"))
    for _ in range(levels - 1):
        encoded = encoded.replace("%", "%25")
    return encoded


@st.composite
def _targets(draw: DrawFn) -> str:
    """A sensitive target, sometimes suffixed ``.tscn`` to pass a suffix-only check."""
    target = draw(st.sampled_from(_TARGETS))
    if not target.endswith(".tscn") and draw(st.booleans()):
        target += ".tscn"
    return target


def _swap_separators(text: str, separator: str) -> str:
    """Rewrite the ``/`` separators of a target with another separator form."""
    return text.replace("/", separator)


# --------------------------------------------------------------------------
# Categories
# --------------------------------------------------------------------------


@st.composite
def _plain(draw: DrawFn) -> str:
    """``../`` climbs, sometimes via a real folder (``scenes/../``): the baseline."""
    steps = draw(
        st.lists(
            st.one_of(st.just("../"), st.sampled_from(_DIRS).map(lambda d: d + "/../")),
            min_size=1,
            max_size=8,
        )
    )
    return draw(st.sampled_from(_PREFIXES)) + "".join(steps) + draw(_targets())


_BACKSLASHES: tuple[str, ...] = ("\\", "%5c", "%5C", "%255c")


@st.composite
def _backslash(draw: DrawFn) -> str:
    """Windows separators, raw or encoded: ``\\`` is outside the allowlist."""
    separator = draw(st.sampled_from(_BACKSLASHES))
    prefix = draw(st.sampled_from(("res://", "res://scenes" + separator, "res://scenes/", "")))
    depth = draw(_depths)
    return prefix + (".." + separator) * depth + _swap_separators(draw(_targets()), separator)


_SLASHY: tuple[str, ...] = ("/", "%2f", "%2F")
_BACKSLASHY: tuple[str, ...] = ("\\", "%5c", "%5C")
_MIXED_SEPARATORS: tuple[str, ...] = (*_SLASHY, *_BACKSLASHY, "\\/", "/\\", "\\\\/")


@st.composite
def _mixed_separators(draw: DrawFn) -> str:
    """``/`` and ``\\`` within one path, for servers that normalise only one of them."""
    depth = draw(_depths)
    separators = draw(st.lists(st.sampled_from(_MIXED_SEPARATORS), min_size=depth, max_size=depth))
    joined = "".join(separators)
    if not any(b in joined for b in _BACKSLASHY):
        separators.append(draw(st.sampled_from(_BACKSLASHY)))
    if not any(s in joined for s in _SLASHY):
        separators.append(draw(st.sampled_from(_SLASHY)))
    climb = "".join(".." + separator for separator in separators)
    tail_separator = draw(st.sampled_from(("/", "\\")))
    prefix = draw(st.sampled_from(("res://", "res://scenes/", "res://scenes\\", "")))
    return prefix + climb + _swap_separators(draw(_targets()), tail_separator)


@st.composite
def _percent_single(draw: DrawFn) -> str:
    """Every traversal character encoded once (``%2e%2e%2f``), hex case varied."""
    depth = draw(_depths)
    separator = draw(st.sampled_from(("/", "\\")))
    climb = "".join(
        _pct(".", upper=draw(st.booleans()))
        + _pct(".", upper=draw(st.booleans()))
        + _pct(separator, upper=draw(st.booleans()))
        for _ in range(depth)
    )
    target = draw(_targets())
    if draw(st.booleans()):
        target = _pct(target, upper=draw(st.booleans()))
    prefix = draw(st.sampled_from(_PREFIXES))
    if draw(st.booleans()):
        # An encoded prefix hides "res://" from a naive startswith check too.
        prefix = _pct(prefix, upper=draw(st.booleans()))
    return prefix + climb + target


@st.composite
def _percent_double(draw: DrawFn) -> str:
    """Traversal characters encoded twice or three times (``%252e``, ``%25252e``)."""
    depth = draw(_depths)
    levels = st.integers(min_value=2, max_value=3)
    separator = draw(st.sampled_from(("/", "/", "\\")))
    climb = "".join(
        _pct(".", upper=draw(st.booleans()), levels=draw(levels))
        + _pct(".", upper=draw(st.booleans()), levels=draw(levels))
        + _pct(separator, upper=draw(st.booleans()), levels=draw(levels))
        for _ in range(depth)
    )
    target = draw(_targets())
    if draw(st.booleans()):
        target = _pct(target, upper=draw(st.booleans()), levels=draw(levels))
    return draw(st.sampled_from(_PREFIXES)) + climb + target


@st.composite
def _percent_partial(draw: DrawFn) -> str:
    """Only some traversal characters encoded (``%2e.``, ``.%2e``, ``..%2f``).

    A filter that looks for ``%2e%2e`` or for ``../`` misses the mixed forms.
    """
    depth = draw(_depths)
    masks = draw(
        st.lists(
            st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=depth, max_size=depth
        )
    )
    flat = [flag for mask in masks for flag in mask]
    if not any(flat):
        masks[0] = (True, False, False)
    elif all(flat):
        masks[-1] = (True, True, False)
    separator = draw(st.sampled_from(("/", "\\")))
    climb = ""
    for mask in masks:
        for char, encoded in zip((".", ".", separator), mask, strict=True):
            climb += _pct(char, upper=draw(st.booleans())) if encoded else char
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: Non-shortest UTF-8 forms (and the IIS-era invalid ones) of ``.``, ``/``, ``\``.
_OVERLONG: Mapping[str, tuple[str, ...]] = {
    ".": ("%c0%ae", "%e0%80%ae", "%f0%80%80%ae", "%c0%2e"),
    "/": ("%c0%af", "%e0%80%af", "%f0%80%80%af", "%c0%2f"),
    "\\": ("%c1%9c", "%c1%1c", "%e0%81%9c", "%c0%5c"),
}


@st.composite
def _overlong_utf8(draw: DrawFn) -> str:
    """Overlong UTF-8 (``%c0%ae``): a lenient decoder reads ``.``, a strict one fails.

    At least one character is overlong, so strict decoding always fails; some
    are double-encoded (``%25c0%25ae``) to survive a decode-once filter.
    """
    depth = draw(_depths)
    separator = draw(st.sampled_from(("/", "\\")))
    chars = [".", ".", separator] * depth
    flags = draw(st.lists(st.booleans(), min_size=len(chars), max_size=len(chars)))
    if not any(flags):
        flags[draw(st.integers(0, len(chars) - 1))] = True
    upper = draw(st.booleans())
    levels = draw(st.sampled_from((1, 1, 1, 2)))
    climb = ""
    for char, overlong in zip(chars, flags, strict=True):
        if overlong:
            form = draw(st.sampled_from(_OVERLONG[char]))
            form = form.upper() if upper else form
            climb += form.replace("%", "%25") if levels == 2 else form
        else:
            climb += char
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: ``%uEFC8`` and ``%uF025`` are dotdotpwn's private-use separator candidates: no
#: standard mapping makes them a separator, but a best-fit narrowing may.
_PERCENT_U: Mapping[str, tuple[str, ...]] = {
    ".": ("%u002e", "%u002E", "%uff0e", "%u2024"),
    "/": ("%u002f", "%u2215", "%uff0f", "%u2044", "%uF025"),
    "\\": ("%u005c", "%u2216", "%uff3c", "%uEFC8"),
}


@st.composite
def _percent_u(draw: DrawFn) -> str:
    """IIS-style ``%uXXXX`` escapes, which standard percent-decoding leaves as ``%u``."""
    depth = draw(_depths)
    separator = draw(st.sampled_from(("/", "\\")))
    chars = [".", ".", separator] * depth
    flags = draw(st.lists(st.booleans(), min_size=len(chars), max_size=len(chars)))
    if not any(flags):
        flags[draw(st.integers(0, len(chars) - 1))] = True
    climb = ""
    for char, escaped in zip(chars, flags, strict=True):
        if escaped:
            form = draw(st.sampled_from(_PERCENT_U[char]))
            if draw(st.booleans()):
                form = "%U" + form[2:]
            climb += form
        else:
            climb += char
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: Characters whose NFKC form is ``.``, ``/`` or ``\`` (and the multi-dot ones).
_FOLD_DOT: tuple[str, ...] = ("\uff0e", "\u2024", "\ufe52")  # fullwidth, one-dot leader, small
_FOLD_DOTDOT: tuple[str, ...] = ("\u2025", "\ufe30")  # two-dot leader, vertical two-dot
_FOLD_DOTS: tuple[str, ...] = ("\u2026", "\ufe19")  # ellipsis -> "...": still a dot segment
_FOLD_SEPARATORS: tuple[str, ...] = ("\uff0f", "\uff3c", "\ufe68")  # fullwidth / and \, small \


def _maybe_pct(draw: DrawFn, text: str) -> str:
    """Leave a fold character raw, or percent-encode its UTF-8 bytes once or twice."""
    levels = draw(st.sampled_from((0, 0, 1, 2)))
    return text if levels == 0 else _pct(text, upper=draw(st.booleans()), levels=levels)


@st.composite
def _nfkc_fold(draw: DrawFn) -> str:
    """Compatibility characters that NFKC folds into ``.``, ``/`` or ``\\``.

    Each climb step folds into a segment that starts with ``.`` (``..`` or
    ``...``); at least one character of the first step is a fold character,
    so NFKC always changes the decoded string.
    """
    depth = draw(_depths)
    climb = ""
    for step in range(depth):
        shape = draw(st.sampled_from(("pair", "pair", "dotdot", "dots")))
        if shape == "pair":
            first = draw(st.sampled_from((".", *_FOLD_DOT)))
            second = draw(st.sampled_from((".", *_FOLD_DOT)))
            if step == 0 and first == second == ".":
                second = draw(st.sampled_from(_FOLD_DOT))
            dots = _maybe_pct(draw, first) + _maybe_pct(draw, second)
        elif shape == "dotdot":
            dots = _maybe_pct(draw, draw(st.sampled_from(_FOLD_DOTDOT)))
        else:
            dots = _maybe_pct(draw, draw(st.sampled_from(_FOLD_DOTS)))
        separator = draw(st.sampled_from(("/", *_FOLD_SEPARATORS)))
        climb += dots + _maybe_pct(draw, separator)
    target = draw(_targets())
    if draw(st.booleans()):
        target = _swap_separators(target, draw(st.sampled_from(_FOLD_SEPARATORS)))
    return draw(st.sampled_from(_PREFIXES)) + climb + target


#: Control characters, raw or percent-encoded (C1 as UTF-8, so it decodes).
_CONTROLS: tuple[str, ...] = (
    "\x00",
    "%00",
    "%2500",
    "\r\n",
    "%0d%0a",
    "\n",
    "%0a",
    "\r",
    "\t",
    "%09",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1b",
    "%1f",
    "\x7f",
    "%7f",
    "\x85",
    "%c2%85",
    "\x9b",
)


@st.composite
def _nul_control(draw: DrawFn) -> str:
    """NUL and other control characters, the classic truncation trick.

    ``res://vr_main.tscn%00.png`` reads as a scene to a suffix check and as
    ``.png`` (or the bytes before NUL) to the C layer underneath.
    """
    control = draw(st.sampled_from(_CONTROLS))
    folder = draw(st.sampled_from(("res://", "res://scenes/")))
    stem = draw(st.sampled_from(_STEMS))
    shape = draw(st.sampled_from(("after-ext", "before-ext", "in-stem", "end", "start")))
    if shape == "after-ext":
        fake = draw(st.sampled_from(("", ".png", ".gd", ".tres", ".txt")))
        return f"{folder}{stem}.tscn{control}{fake}"
    if shape == "before-ext":
        climb = "../" * draw(_depths)
        target = draw(st.sampled_from(_TARGETS)).removesuffix(".tscn")
        return f"res://{climb}{target}{control}.tscn"
    if shape == "in-stem":
        cut = draw(st.integers(min_value=0, max_value=len(stem)))
        return f"{folder}{stem[:cut]}{control}{stem[cut:]}.tscn"
    if shape == "end":
        return f"{folder}{stem}.tscn{control}"
    return f"{control}{folder}{stem}.tscn"


#: Forms that become ``../`` once a naive filter strips ``../`` or ``./`` once,
#: plus ``..;/`` (path parameters) and ``.../``.
_BYPASSES: tuple[str, ...] = (
    "....//",
    "..././",
    ".../",
    "..;/",
    "....\\/",
    ".....///",
    "...//",
    "..;x/",
)


@st.composite
def _filter_bypass(draw: DrawFn) -> str:
    """Sequences designed to survive one pass of a ``../`` stripping filter."""
    steps = draw(st.lists(st.sampled_from(_BYPASSES), min_size=1, max_size=8))
    return draw(st.sampled_from(_PREFIXES)) + "".join(steps) + draw(_targets())


_UNIX_TARGETS: tuple[str, ...] = (
    "etc/passwd",
    "etc/shadow",
    "proc/self/environ",
    "root/.ssh/id_rsa",
    "var/log/auth.log",
    "app/jwt_token.txt",
)
_WINDOWS_TARGETS: tuple[str, ...] = (
    "Windows/win.ini",
    "Windows/System32/drivers/etc/hosts",
    "Users/Public/project.godot",
    "inetpub/wwwroot/web.config",
)


@st.composite
def _absolute_path(draw: DrawFn) -> str:
    """Absolute paths, Unix, Windows drive and UNC, with or without ``res://``."""
    suffix = draw(st.sampled_from(("", "", ".tscn")))
    shape = draw(
        st.sampled_from(("root", "res-root", "res-many", "encoded", "drive", "res-drive", "unc"))
    )
    unix = draw(st.sampled_from(_UNIX_TARGETS)) + suffix
    windows = draw(st.sampled_from(_WINDOWS_TARGETS)) + suffix
    separator = draw(st.sampled_from(("\\", "/")))
    drive = draw(st.sampled_from("CDZ")) + ":"
    if shape == "root":
        return "/" + unix
    if shape == "res-root":
        return "res:///" + unix
    if shape == "res-many":
        return "res://" + "/" * draw(st.integers(2, 4)) + unix
    if shape == "encoded":
        return draw(st.sampled_from(("%2f", "res://%2f", "res://%252f"))) + unix
    if shape == "drive":
        return drive + separator + _swap_separators(windows, separator)
    if shape == "res-drive":
        return "res://" + drive + separator + _swap_separators(windows, separator)
    host = draw(st.sampled_from(("server\\share", "?\\" + drive, ".\\" + drive, "127.0.0.1\\c$")))
    return "\\\\" + host + "\\" + _swap_separators(windows, "\\")


#: Schemes other than ``res://``, and near-misses of it. None of them, joined
#: to a tail that does not start with ``/``, can spell ``res://``.
_SCHEMES: tuple[str, ...] = (
    "file://",
    "file:///",
    "user://",
    "uid://",
    "http://127.0.0.1/",
    "https://example.invalid/",
    "ftp://example.invalid/",
    "jar:file:///",
    "data:text/plain,",
    "res:/",
    "res:",
    "res//",
    "res:\\\\",
    "res:/\\",
    "RES://",
    "Res://",
    "rES://",
    "//",
    "res\uff1a/",  # folds to "res:/" under NFKC
)


@st.composite
def _other_scheme(draw: DrawFn) -> str:
    """A scheme other than ``res://``: Godot's ``user://``, URLs, and near-misses."""
    scheme = draw(st.sampled_from(_SCHEMES))
    tail = draw(_targets())
    if draw(st.booleans()):
        tail = draw(st.sampled_from(_DIRS)) + "/" + draw(st.sampled_from(_STEMS)) + ".tscn"
    return scheme + tail


_BAD_EXTENSIONS: tuple[str, ...] = (
    "",
    ".gd",
    ".tres",
    ".res",
    ".scn",
    ".godot",
    ".cfg",
    ".png",
    ".TSCN",
    ".tscn.bak",
    ".tscn.",
    ".tscn/",
    ".tscn.gd",
    ".tscn/.tscn",
    ".tscn~",
    ".tscn.import",
    ".tscn.swp",
    "tscn",
    "_tscn",
    ".tscn%00.gd",
    ".tscn%2f",
    ".tscn%2e",
    ".tscn?raw=1",
    ".tscn#frag",
    ".tscn;.gd",
)


@st.composite
def _wrong_extension(draw: DrawFn) -> str:
    """A missing, different or decorated extension; ``.tscn`` is case-sensitive.

    ``x.tscn.tscn`` is valid per the allowlist, so "doubled" here always ends
    in something other than a plain ``.tscn`` segment.
    """
    folder = draw(st.sampled_from(("res://", "res://scenes/", "res://scenes/levels/")))
    stem = draw(st.sampled_from(_STEMS))
    if draw(st.booleans()):
        return folder + stem + draw(st.sampled_from(_BAD_EXTENSIONS))
    # ".tscn" with a random case pattern that is not all lower case.
    flags = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    if not any(flags):
        flags[draw(st.integers(0, 3))] = True
    extension = "".join(c.upper() if up else c for c, up in zip("tscn", flags, strict=True))
    return folder + stem + "." + extension


#: Characters the allowlist accepts inside a segment, minus ``.`` so that no
#: generated segment can start with one.
_SEGMENT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_LONG_LENGTHS = st.one_of(
    st.sampled_from((257, 258, 300, 512, 1024, 4096, 4097)),
    st.integers(min_value=257, max_value=4200),
)


@st.composite
def _over_long(draw: DrawFn) -> str:
    """A path that is valid in every respect except its decoded length (> 256).

    The exact decoded length is drawn, with the boundary (257) and ~4 KB
    favoured; sometimes the filler is percent-encoded, so the raw string is
    three times longer still.
    """
    length = draw(_LONG_LENGTHS)
    unit = draw(
        st.one_of(
            st.sampled_from(("a", "scenes/", "level_01/", "x/")),
            st.text(alphabet=_SEGMENT_ALPHABET, min_size=1, max_size=16).map(lambda s: s + "/"),
        )
    )
    need = length - len("res://") - len(".tscn")
    body = (unit * (need // len(unit) + 1))[:need]
    if body.endswith("/"):
        body = body[:-1] + "a"
    if draw(st.booleans()):
        body = "".join(c if c == "/" else _pct(c) for c in body)
    return "res://" + body + ".tscn"


_ODD_SEGMENTS: tuple[str, ...] = (".", "", ".git", ".godot", ".import", ".ssh", ".env", ".hidden")


@st.composite
def _dot_segments(draw: DrawFn) -> str:
    """``.`` segments, empty segments and hidden (``.git``-style) folders or files."""
    segments = draw(st.lists(st.sampled_from(_DIRS), max_size=3))
    last = draw(st.sampled_from(_STEMS)) + ".tscn"
    if draw(st.integers(0, 4)) == 0:
        last = draw(st.sampled_from((".hidden.tscn", ".tscn", "." + last)))
        segments.append(last)
        if draw(st.booleans()):
            return "res://" + "/".join(segments)
    else:
        segments.append(last)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        odd = draw(st.sampled_from(_ODD_SEGMENTS))
        if odd.startswith(".") and draw(st.integers(0, 3)) == 0:
            odd = "%2e" + odd[1:]
        segments.insert(draw(st.integers(min_value=0, max_value=len(segments))), odd)
    return "res://" + "/".join(segments)


#: Whitespace, quotes and shell or markup metacharacters, alone and as the
#: injection strings they usually travel in. NBSP and ideographic space fold
#: to a space under NFKC.
_INJECTIONS: tuple[str, ...] = (
    " ",
    "  ",
    "\u00a0",
    "\u3000",
    "'",
    '"',
    "<",
    ">",
    ";",
    "|",
    "&",
    "`",
    "$(id)",
    "`id`",
    "${IFS}",
    "; rm -rf /",
    "' OR '1'='1",
    '" onmouseover="x',
    "<script>alert(1)</script>",
    "| cat /etc/passwd",
    "&& whoami",
    "\n",
    "\r\n",
)


@st.composite
def _whitespace_and_quotes(draw: DrawFn) -> str:
    """Spaces, quotes and metacharacters at the edges or inside a scene path."""
    fragment = draw(st.sampled_from(_INJECTIONS))
    if draw(st.integers(0, 3)) == 0:
        fragment = _pct(fragment, upper=draw(st.booleans()))
    folder = draw(st.sampled_from(("res://", "res://scenes/")))
    stem = draw(st.sampled_from(_STEMS))
    shape = draw(st.sampled_from(("before", "in-stem", "before-ext", "after")))
    if shape == "before":
        return fragment + folder + stem + ".tscn"
    if shape == "in-stem":
        cut = draw(st.integers(min_value=0, max_value=len(stem)))
        return f"{folder}{stem[:cut]}{fragment}{stem[cut:]}.tscn"
    if shape == "before-ext":
        return f"{folder}{stem}{fragment}.tscn"
    return f"{folder}{stem}.tscn{fragment}"


# --------------------------------------------------------------------------
# Forms from the public corpora (PayloadsAllTheThings, fuzzdb, dotdotpwn,
# SecLists Fuzzing/LFI) that the categories above do not already cover
# --------------------------------------------------------------------------


def _case(draw: DrawFn, text: str) -> str:
    return text.upper() if draw(st.booleans()) else text


def _percent_percent_char(draw: DrawFn, char: str) -> str:
    """``%`` then the hex digits of ``char``'s escape, one or both escaped themselves.

    ``%%32%65``, ``%%32e`` and ``%2%65`` all read ``%2e`` after one decoding
    round and ``.`` after two; none of them contains ``%25``.
    """
    digits = _case(draw, f"{ord(char):02x}")
    shape = draw(st.sampled_from(("both", "both", "first", "second")))
    first = _pct(digits[0]) if shape in ("both", "first") else digits[0]
    second = _pct(digits[1]) if shape in ("both", "second") else digits[1]
    return "%" + first + second


def _climb_chars(draw: DrawFn) -> tuple[list[str], list[bool]]:
    """The characters of a climb (``../`` or ``..\\`` repeated) and which of them to
    disguise, at least one."""
    depth = draw(_depths)
    separator = draw(st.sampled_from(("/", "/", "\\")))
    chars = [".", ".", separator] * depth
    flags = draw(st.lists(st.booleans(), min_size=len(chars), max_size=len(chars)))
    if not any(flags):
        flags[draw(st.integers(0, len(chars) - 1))] = True
    return chars, flags


@st.composite
def _percent_percent(draw: DrawFn) -> str:
    """Doubled percent signs (``%%32%65%%32%65/``): the hex digits are escaped, not the ``%``.

    A filter that detects double encoding by ``%25`` misses these. At least
    one traversal character per path is in this form.
    """
    chars, flags = _climb_chars(draw)
    climb = "".join(
        _percent_percent_char(draw, char) if doubled else char
        for char, doubled in zip(chars, flags, strict=True)
    )
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: Control bytes that a loader (or the C layer under it) may drop; NUL is favoured.
_SPLITTERS: tuple[str, ...] = (
    "%00",
    "%00",
    "\x00",
    "%2500",
    "%01",
    "\x01",
    "%0a",
    "%0d",
    "%09",
    "%1f",
    "%7f",
    "%c2%80",
)
_SPLIT_SHAPES: tuple[str, ...] = (".{c}.", "..{c}", "{c}..", ".{c}.{c}")


@st.composite
def _control_split_dots(draw: DrawFn) -> str:
    """NUL and control bytes between or beside the dots (``.%00./``, ``..%00/``, ``..%01/``).

    Removing the control bytes leaves ``..``; the first step always carries one.
    """
    depth = draw(_depths)
    separator = draw(st.sampled_from(("/", "/", "%2f", "\\")))
    climb = ""
    for step in range(depth):
        if step == 0 or draw(st.booleans()):
            shape = draw(st.sampled_from(_SPLIT_SHAPES))
            climb += shape.replace("{c}", draw(st.sampled_from(_SPLITTERS)))
        else:
            climb += ".."
        climb += separator
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: What a legacy decoder reads as ``.``, ``/`` or ``\\``: RFC 2279's 5- and 6-byte
#: sequences, and lead bytes followed by a byte that is no continuation byte
#: (``%c0.``) or by an escape whose "hex" digits are letters past ``f``
#: (``%qf``: IIS computed q as 26, 26 * 16 + 15 = 0x1af, low byte 0xaf).
_OVERLONG_LEGACY: Mapping[str, tuple[str, ...]] = {
    ".": ("%f8%80%80%80%ae", "%fc%80%80%80%80%ae", "%c0.", "%e0%80.", "%c0%qe"),
    "/": ("%f8%80%80%80%af", "%fc%80%80%80%80%af", "%c0%qf", "%c0%9v", "%bg%qf"),
    "\\": ("%f8%80%80%81%9c", "%c1%8s", "%c1%pc"),
}


@st.composite
def _overlong_legacy(draw: DrawFn) -> str:
    """Overlong forms beyond the classic 2-4 byte ones: 5/6-byte and bogus continuations.

    A decoder patched against ``%c0%ae`` may still map these to ASCII; a strict
    one fails on the bytes, or leaves a ``%`` the allowlist refuses.
    """
    chars, flags = _climb_chars(draw)
    upper = draw(st.booleans())
    climb = ""
    for char, legacy in zip(chars, flags, strict=True):
        if legacy:
            form = draw(st.sampled_from(_OVERLONG_LEGACY[char]))
            climb += form.upper() if upper else form
        else:
            climb += char
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


#: Two-character glob patterns that match the entry ``..`` (and not ``.``).
_WILDCARD_STEPS: tuple[str, ...] = (".?", "?.", "??", "%3f%3f", ".%3f", "%3F.")


@st.composite
def _wildcard_dots(draw: DrawFn) -> str:
    """``?`` in place of dots (``.?/``, ``??/``), for loaders that glob the path."""
    steps = draw(st.lists(st.sampled_from(_WILDCARD_STEPS), min_size=1, max_size=8))
    separator = draw(st.sampled_from(("/", "/", "\\")))
    climb = "".join(step + separator for step in steps)
    return draw(st.sampled_from(_PREFIXES)) + climb + draw(_targets())


_HEX_DOT = ("0x2e", "0x2E")
_HEX_SEPARATOR = ("0x2f", "0x2F", "0x5c")


@st.composite
def _textual_hex(draw: DrawFn) -> str:
    """C-style ``0x2e`` text for ``.`` and ``/`` (``0x2e0x2e/``, ``..0x2f``).

    ``0x2e0x2e`` alone is an ordinary segment name the allowlist accepts, so
    the first step is always one the allowlist refuses: a segment that starts
    with a literal ``.`` (``.0x2e/``, ``..0x2f``) or a backslash separator.
    """
    first = draw(st.sampled_from((".{d}/", "..{s}", ".{d}{s}", "{d}{d}\\")))
    climb = first.format(d=draw(st.sampled_from(_HEX_DOT)), s=draw(st.sampled_from(_HEX_SEPARATOR)))
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        step = draw(st.sampled_from(("{d}{d}/", "{d}{d}{s}", ".{d}/", "..{s}")))
        climb += step.format(
            d=draw(st.sampled_from(_HEX_DOT)), s=draw(st.sampled_from(_HEX_SEPARATOR))
        )
    target = draw(_targets())
    if draw(st.booleans()):
        target = target.replace("/", draw(st.sampled_from(_HEX_SEPARATOR)))
    return (
        draw(st.sampled_from(("res://", "res://scenes/", "res://scenes/levels/"))) + climb + target
    )


_STRIPPED_STEPS: tuple[str, ...] = ("..2f", "..2F", "..5c", "..5C", "..c0af", "..252f")


@st.composite
def _percent_stripped(draw: DrawFn) -> str:
    """``..%2f`` with the ``%`` gone (``..2f``): what survives a filter that deletes ``%``."""
    steps = draw(st.lists(st.sampled_from(_STRIPPED_STEPS), min_size=1, max_size=8))
    target = draw(_targets())
    if draw(st.booleans()):
        target = target.replace("/", "2f")
    return draw(st.sampled_from(("res://", "res://scenes/", "res://vr/"))) + "".join(steps) + target


#: Paddings a Windows loader trims (trailing dots and spaces) or a length limit cuts.
_PAD_UNITS: tuple[str, ...] = (".", ".", " ", ". ")


@st.composite
def _dot_padding(draw: DrawFn) -> str:
    """Trailing dots (``passwd.....``) and ``/./././.`` runs, the truncation paddings.

    Trailing padding always ends in ``.`` or a space, so the last segment never
    ends in ``.tscn``; ``/.`` padding always leaves a ``.`` segment.
    """
    folder = draw(st.sampled_from(("res://", "res://scenes/", "res://scenes/levels/")))
    name = draw(
        st.one_of(
            st.sampled_from(_STEMS).map(lambda s: s + ".tscn"),
            st.sampled_from(_TARGETS).map(lambda t: "../" * 3 + t),
        )
    )
    count = draw(st.integers(min_value=1, max_value=40))
    if draw(st.booleans()):
        padding = "".join(draw(st.sampled_from(_PAD_UNITS)) for _ in range(count))
        return folder + name + padding + draw(st.sampled_from((".", " ")))
    padding = "/." * count
    if draw(st.booleans()):
        return folder + name + padding
    return folder + padding.lstrip("/") + "/" + name


#: Stream wrappers (PHP and others) and the URL-ish prefixes LFI lists carry.
_WRAPPERS: tuple[str, ...] = (
    "php://filter/convert.base64-encode/resource=",
    "php://filter/read=string.rot13/resource=",
    "php://filter/resource=",
    "php://input#",
    "expect://id;",
    "zip://scenes.zip#",
    "phar://scenes.phar/",
    "compress.zlib://",
    "glob://",
    "data://text/plain;base64,",
    "url:file:///",
    "url:",
)


@st.composite
def _wrapper_scheme(draw: DrawFn) -> str:
    """``php://filter/...``, ``expect://``, ``zip://``, ``phar://``, ``url:`` wrappers.

    Placed at the start (a suffix-only check sees ``.tscn``), after ``res://``
    (a prefix-only check sees ``res://``), or around a scene path.
    """
    wrapper = draw(st.sampled_from(_WRAPPERS))
    tail = draw(
        st.one_of(
            _targets(),
            st.sampled_from(_TARGETS).map(lambda t: "/" + t + ".tscn"),
            st.sampled_from(("res://vr_main.tscn", "res://scenes/lobby.tscn")),
        )
    )
    shape = draw(st.sampled_from(("start", "after-res", "scenes")))
    if shape == "start":
        return wrapper + tail
    if shape == "after-res":
        return "res://" + wrapper + tail.removeprefix("res://")
    return "res://scenes/" + wrapper + tail.removeprefix("res://")


_DRIVE_FORMS: tuple[str, ...] = ("c:", "C:", "d:", "Z:")
_SESSION_SEGMENTS: tuple[str, ...] = ("(S(x))", "(S(abcdef0123456789))", "(A(x))", "(F(x))")
_WINDOWS_TAILS: tuple[str, ...] = (
    "::$DATA",
    ":Zone.Identifier",
    ":$I30:$INDEX_ALLOCATION",
)


@st.composite
def _windows_forms(draw: DrawFn) -> str:
    """Drive-relative paths (``c:WINDOWS\\...``), ASP.NET ``(S(X))`` segments, NTFS streams.

    ``c:name`` (no separator after the colon) is relative to the drive's
    current directory, not to the project; ``(S(...))`` is a cookieless
    session segment that ASP.NET strips; ``::$DATA`` names a file's stream.
    """
    shape = draw(st.sampled_from(("drive", "res-drive", "session", "stream")))
    if shape in ("drive", "res-drive"):
        drive = draw(st.sampled_from(_DRIVE_FORMS))
        separator = draw(st.sampled_from(("\\", "/")))
        rest = draw(
            st.one_of(
                st.sampled_from(_WINDOWS_TARGETS).map(lambda t: _swap_separators(t, separator)),
                _targets().map(lambda t: (".." + separator) * 2 + _swap_separators(t, separator)),
                _targets(),
            )
        )
        return ("res://" if shape == "res-drive" else "") + drive + rest
    if shape == "session":
        session = draw(st.sampled_from(_SESSION_SEGMENTS))
        depth = draw(st.integers(min_value=1, max_value=4))
        return "res://scenes/" + (session + "/../") * depth + draw(_targets())
    folder = draw(st.sampled_from(("res://", "res://scenes/")))
    return folder + draw(st.sampled_from(_STEMS)) + ".tscn" + draw(st.sampled_from(_WINDOWS_TAILS))


# --------------------------------------------------------------------------
# Public registry
# --------------------------------------------------------------------------

#: Category name -> strategy of invalid scene paths. Insertion order is the
#: order reports list the categories in.
CATEGORIES: Mapping[str, SearchStrategy[str]] = {
    "plain": _plain(),
    "backslash": _backslash(),
    "mixed-separators": _mixed_separators(),
    "percent-single": _percent_single(),
    "percent-double": _percent_double(),
    "percent-partial": _percent_partial(),
    "overlong-utf8": _overlong_utf8(),
    "percent-u": _percent_u(),
    "nfkc-fold": _nfkc_fold(),
    "nul-control": _nul_control(),
    "filter-bypass": _filter_bypass(),
    "absolute-path": _absolute_path(),
    "other-scheme": _other_scheme(),
    "wrong-extension": _wrong_extension(),
    "over-long": _over_long(),
    "dot-segments": _dot_segments(),
    "whitespace-and-quotes": _whitespace_and_quotes(),
    "percent-percent": _percent_percent(),
    "control-split-dots": _control_split_dots(),
    "overlong-legacy": _overlong_legacy(),
    "wildcard-dots": _wildcard_dots(),
    "textual-hex": _textual_hex(),
    "percent-stripped": _percent_stripped(),
    "dot-padding": _dot_padding(),
    "wrapper-scheme": _wrapper_scheme(),
    "windows-forms": _windows_forms(),
}


def category_names() -> list[str]:
    """The category names in report order."""
    return list(CATEGORIES)


def _long_example(length: int, unit: str) -> str:
    """A valid-charset path of exactly ``length`` characters, for ``EXAMPLES``."""
    need = length - len("res://") - len(".tscn")
    body = (unit * (need // len(unit) + 1))[:need]
    if body.endswith("/"):
        body = body[:-1] + "a"
    return "res://" + body + ".tscn"


#: Hand-picked classic forms, 2-4 per category, always sent by a probe.
EXAMPLES: Mapping[str, tuple[str, ...]] = {
    "plain": (
        "res://../../../../etc/passwd",
        "res://scenes/../../project.godot",
        "../../../../etc/shadow",
    ),
    "backslash": (
        "res://..\\..\\..\\etc\\passwd",
        "res://scenes\\..\\..\\override.cfg",
        "res://..%5c..%5cproject.godot",
    ),
    "mixed-separators": (
        "res://..\\/..\\/etc/passwd",
        "res://../..\\../etc\\shadow",
        "res://scenes/..\\../project.godot",
    ),
    "percent-single": (
        "res://%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "res://%2E%2E/%2E%2E/project.godot",
        "res%3a%2f%2f%2e%2e%2foverride.cfg",
    ),
    "percent-double": (
        "res://%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "res://%25252e%25252e%25252fproject.godot",
        "res://scenes/%252E%252E%252F%252E%252E%252Foverride.cfg",
    ),
    "percent-partial": (
        "res://%2e./%2e./etc/passwd",
        "res://.%2e/.%2e/project.godot",
        "res://..%2f..%2foverride.cfg",
    ),
    "overlong-utf8": (
        "res://%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "res://..%c0%af..%c0%afproject.godot",
        "res://%e0%80%ae%e0%80%ae/etc/passwd",
        "res://..%c1%9c..%c1%9cetc%c1%9cpasswd",
    ),
    "percent-u": (
        "res://%u002e%u002e/%u002e%u002e/etc/passwd",
        "res://..%u2215..%u2215project.godot",
        "res://..%u005c..%u005coverride.cfg",
        "res://%u002e%u002e%uF025%u002e%u002e%uEFC8etc%uF025passwd.tscn",
    ),
    "nfkc-fold": (
        "res://\uff0e\uff0e/\uff0e\uff0e/etc/passwd",
        "res://..\uff0f..\uff0fproject.godot",
        "res://%ef%bc%8e%ef%bc%8e%ef%bc%8f%ef%bc%8e%ef%bc%8e%ef%bc%8fetc/passwd",
        "res://\u2024\u2024/\ufe52\ufe52\uff3coverride.cfg",
    ),
    "nul-control": (
        "res://vr_main.tscn%00.png",
        "res://vr_main.tscn\x00",
        "res://../../etc/passwd%00.tscn",
        "res://scenes/vr_main%0d%0a.tscn",
    ),
    "filter-bypass": (
        "res://....//....//etc/passwd",
        "res://..././..././project.godot",
        "res://.../.../override.cfg",
        "res://..;/..;/etc/passwd",
    ),
    "absolute-path": (
        "/etc/passwd",
        "res:///etc/passwd.tscn",
        "C:\\Windows\\win.ini",
        "\\\\server\\share\\vr_main.tscn",
    ),
    "other-scheme": (
        "file:///etc/passwd",
        "user://vr_main.tscn",
        "http://127.0.0.1/vr_main.tscn",
        "RES://vr_main.tscn",
    ),
    "wrong-extension": (
        "res://vr_main",
        "res://vr_main.TSCN",
        "res://vr_main.tscn.bak",
        "res://vr_main.tscn/.tscn",
    ),
    "over-long": (
        _long_example(257, "a"),
        _long_example(4096, "scenes/"),
    ),
    "dot-segments": (
        "res://./vr_main.tscn",
        "res://scenes//vr_main.tscn",
        "res://.godot/imported/vr_main.tscn",
        "res://scenes/.hidden.tscn",
    ),
    "whitespace-and-quotes": (
        "res://vr main.tscn",
        "res://vr_main.tscn; rm -rf /",
        "res://$(id).tscn",
        "res://vr_main.tscn' OR '1'='1",
    ),
    "percent-percent": (
        "res://%%32%65%%32%65/%%32%65%%32%65/etc/passwd.tscn",
        "res://scenes/%%32%65%%32%65%%32%66%%32%65%%32%65%%32%66project.godot.tscn",
        "res://..%%32%66..%%35%63override.cfg",
    ),
    "control-split-dots": (
        "res://.%00./.%00./etc/passwd.tscn",
        "res://scenes/..%00/..%00/project.godot",
        "res://scenes/levels/..%01/..%01/..%01/override.cfg.tscn",
    ),
    "overlong-legacy": (
        "res://%f8%80%80%80%ae%f8%80%80%80%ae/%f8%80%80%80%ae%f8%80%80%80%ae/etc/passwd.tscn",
        "res://scenes/%fc%80%80%80%80%ae%fc%80%80%80%80%ae%fc%80%80%80%80%afproject.godot.tscn",
        "res://%c0.%c0./%c0.%c0./etc/passwd.tscn",
        "res://%c0%qe%c0%qe%c0%qf%c0%qe%c0%qe%c0%qfetc%c0%qfpasswd.tscn",
    ),
    "wildcard-dots": (
        "res://.?/.?/etc/passwd.tscn",
        "res://scenes/??/??/project.godot.tscn",
        "res://scenes/levels/?./?./?./override.cfg",
    ),
    "textual-hex": (
        "res://0x2e0x2e/.0x2e/etc/passwd.tscn",
        "res://scenes/.0x2e0x2f.0x2e0x2fproject.godot.tscn",
        "res://..0x2f..0x2fetc0x2fpasswd",
    ),
    "percent-stripped": (
        "res://..2f..2fetc2fpasswd.tscn",
        "res://scenes/..5c..5cproject.godot.tscn",
        "res://..2f..2f..2fetc/passwd",
    ),
    "dot-padding": (
        "res://scenes/lobby.tscn.....",
        "res://vr_main.tscn/./././.",
        "res://../../../etc/passwd.....",
        "res://scenes/././././lobby.tscn. . .",
    ),
    "wrapper-scheme": (
        "res://php://filter/convert.base64-encode/resource=project.godot.tscn",
        "php://filter/convert.base64-encode/resource=/etc/passwd.tscn",
        "zip://scenes.zip#vr_main.tscn",
        "res://expect://id;vr_main.tscn",
    ),
    "windows-forms": (
        "res://c:etc/passwd.tscn",
        "c:WINDOWS\\system32\\drivers\\etc\\hosts",
        "res://scenes/(S(x))/../(S(x))/../project.godot.tscn",
        "res://scenes/lobby.tscn::$DATA",
    ),
}
