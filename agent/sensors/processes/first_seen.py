"""When each remote tool's executable was first seen on this PC (a small local record).

The correlator stays quiet about a tool that has been on the PC for weeks
(``first_seen_days_ago`` beyond ``long_installed_days``) unless there is scam
context. The record lives in the state dir as ``first_seen.json``, one entry
per (tool id, executable path), and never leaves the PC.

Bounded: beyond ``max_entries`` the entries seen least recently are dropped.
Written atomically (temp file + replace), only when an entry is added or its
last sighting is more than a day old, so a tool restarting often costs no I/O.
An unreadable record is set aside as ``first_seen.json.bad`` and a new one
started: losing it only makes tools look new again (more NOTEs, no misses).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

FILE_NAME = "first_seen.json"
_DAY = 86_400.0
_VERSION = 1


class FirstSeen:
    """Thread-safe first-seen record keyed by (tool id, executable path)."""

    def __init__(self, state_dir: Path, *, max_entries: int = 1000, fold_case: bool = False):
        self._path = state_dir / FILE_NAME
        self._max = max_entries
        # Windows and macOS file systems ignore case: C:\X\AnyDesk.exe == c:\x\anydesk.exe.
        self._fold = fold_case
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, float]] | None = None  # key -> (first, last)

    def _key(self, tool_id: str, exe: str) -> str:
        return f"{tool_id}\n{exe.casefold() if self._fold else exe}"

    def days_ago(self, tool_id: str, exe: str, *, now: float) -> float | None:
        """Days since first seen, recording this sighting; None the first time."""
        key = self._key(tool_id, exe)
        with self._lock:
            entries = self._load()
            old = entries.get(key)
            if old is None:
                entries[key] = (now, now)
                self._prune(entries)
                self._save(entries)
                return None
            first, last = old
            if now - last > _DAY:
                entries[key] = (first, now)
                self._save(entries)
            return max(0.0, (now - first) / _DAY)

    def _load(self) -> dict[str, tuple[float, float]]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, tuple[float, float]] = {}
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            for item in data["entries"]:
                key = self._key(str(item["tool"]), str(item["exe"]))
                entries[key] = (float(item["first"]), float(item["last"]))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # No path in the log line: the state dir is under the user's home.
            log.warning("first-seen record unreadable (%s); starting a new one", type(exc).__name__)
            entries = {}
            with contextlib.suppress(OSError):
                os.replace(self._path, self._path.with_name(FILE_NAME + ".bad"))
        self._entries = entries
        return entries

    def _prune(self, entries: dict[str, tuple[float, float]]) -> None:
        if len(entries) <= self._max:
            return
        by_last = sorted(entries, key=lambda k: entries[k][1])
        for key in by_last[: len(entries) - self._max]:
            del entries[key]

    def _save(self, entries: dict[str, tuple[float, float]]) -> None:
        items = []
        for key, (first, last) in entries.items():
            tool, _, exe = key.partition("\n")
            items.append({"tool": tool, "exe": exe, "first": first, "last": last})
        tmp = self._path.with_name(FILE_NAME + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": _VERSION, "entries": items}), encoding="utf-8")
            os.replace(tmp, self._path)
        except OSError as exc:
            # Kept in memory; the next addition tries again.
            log.warning("cannot write the first-seen record (%s)", exc.strerror or exc)
