"""Scene state (current scene, load history) and the fake project filesystem.

The filesystem exists for the traversal faults: a loader that resolves a
path the way a naive one does (``res://`` stripped, backslashes as
separators, ``..`` resolved, C-string truncation at NUL) has somewhere to
escape to. ``/etc/passwd`` is there so an escaped path visibly leaks; every
conforming answer goes through the same loader, which a valid path cannot
steer outside the project.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from dataclasses import dataclass

PROJECT_ROOT = "/srv/spacetime"
RES_PREFIX = "res://"
PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "godot:x:1000:1000:SpaceTime:/home/godot:/bin/bash\n"
)
HISTORY_LIMIT = 100
_DRIVE = re.compile(r"[A-Za-z]:(?=/|$)")


def scene_name(res_path: str) -> str:
    """The scene's name as the manager and ``GET /scene`` report it: the file stem."""
    base = posixpath.basename(res_path)
    return base[: -len(".tscn")] if base.endswith(".tscn") else base


@dataclass(frozen=True)
class FakeFile:
    """A file the loader found: a scene (``res_path`` set) or plain text (leaked if served)."""

    path: str
    res_path: str | None = None
    content: str | None = None


class FakeFilesystem:
    """The project tree under ``/srv/spacetime`` plus the system files an attacker wants."""

    def __init__(self, scenes: tuple[str, ...]) -> None:
        self._files: dict[str, FakeFile] = {}
        for res_path in scenes:
            real = self.resolve(res_path)
            self._files[real] = FakeFile(real, res_path=res_path)
        # Only scenes live under the root, so no valid path can reach a text file.
        self._files["/etc/passwd"] = FakeFile("/etc/passwd", content=PASSWD)

    @staticmethod
    def resolve(path: str) -> str:
        """Where a naive loader ends up: an absolute, normalised posix path.

        ``res://`` is stripped and the rest joined to the project root the
        way ``os.path.join`` does (an absolute remainder replaces the root);
        a drive letter counts as absolute; ``\\`` is a separator; the string
        ends at the first NUL, as a C ``open()`` sees it.
        """
        path = path.split("\x00", 1)[0].replace("\\", "/")
        if path.startswith(RES_PREFIX):
            path = path[len(RES_PREFIX) :]
        drive = _DRIVE.match(path)
        if drive:
            path = "/" + path[drive.end() :]
        if not path.startswith("/"):
            path = f"{PROJECT_ROOT}/{path}"
        normal = posixpath.normpath(path)
        return "/" + normal.lstrip("/")

    def open(self, path: str) -> FakeFile | None:
        """The file a path names, if any; a trailing ``.tscn`` is dropped if that finds one.

        The suffix rule is the naive loader's "resource by base name" lookup,
        which is how ``.../etc/passwd.tscn`` reaches ``/etc/passwd``.
        """
        real = self.resolve(path)
        found = self._files.get(real)
        if found is None and real.endswith(".tscn"):
            found = self._files.get(real[: -len(".tscn")])
        return found


@dataclass(frozen=True)
class HistoryEntry:
    scene_path: str
    loaded_at: float
    duration_ms: float
    success: bool

    def as_json(self, with_duration: bool = True) -> dict[str, object]:
        entry: dict[str, object] = {"scene_path": self.scene_path, "loaded_at": self.loaded_at}
        if with_duration:
            entry["duration_ms"] = self.duration_ms
        entry["success"] = self.success
        return entry


class SceneStore:
    """The current scene and the bounded history of load attempts (last 100)."""

    def __init__(self, scenes: tuple[str, ...], now: float) -> None:
        self.known: tuple[str, ...] = scenes
        self.filesystem = FakeFilesystem(scenes)
        self.current: str = scenes[0]
        self.loaded_at: float = now
        self.history: deque[HistoryEntry] = deque(maxlen=HISTORY_LIMIT)
        self.history.append(HistoryEntry(scenes[0], now, 0.0, True))

    def record(self, scene_path: str, now: float, duration_ms: float, success: bool) -> None:
        self.history.append(HistoryEntry(scene_path, now, round(duration_ms, 3), success))

    def switch(self, res_path: str, now: float) -> None:
        self.current = res_path
        self.loaded_at = now

    @property
    def name(self) -> str:
        return scene_name(self.current)
