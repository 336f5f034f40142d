"""The local journal: every verdict with its evidence, every outcome, the context seen.

JSON lines in ``<state_dir>/journal.jsonl``. It stays on the PC (it may hold
page titles and URLs, which nothing else keeps) and is what ``ratwatch-agent
incidents`` prints. Each record is one ``write`` of one line in append mode,
followed by ``fsync``, so an acknowledged record survives a crash. A crash in
the middle of a write can leave a torn last line: readers skip lines that are
not valid JSON, and the next writer first ends such a line, so the torn
fragment never glues itself to a good record.

The file is rotated to ``journal.1.jsonl`` past ``MAX_BYTES`` (one old
generation kept), so years of scareware-page visits cannot fill a disk.

Record shapes (``"schema": "ratwatch.journal/1"`` on each):
``{"type": "verdict", "ts": float, "verdict": {...}}``,
``{"type": "outcome", "ts": float, "verdict_id": str, "outcome": str, "verdict": {...}}``,
``{"type": "context", "ts": float, "event": str, ...event fields}``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.events import (
    CallEnded,
    CallStarted,
    Event,
    InstallerDownloaded,
    ScarewarePage,
    SensitivePage,
)
from agent.verdict import Evidence, Level, Outcome, Resolution, Stage, Trigger, Verdict

log = logging.getLogger(__name__)

SCHEMA = "ratwatch.journal/1"
FILE_NAME = "journal.jsonl"
MAX_BYTES = 20 * 1024 * 1024
# O_BINARY: Windows would otherwise translate "\n" to "\r\n" in a raw os.open file.
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
# Context events worth keeping for the person (process start/stop is too chatty).
CONTEXT_EVENTS = (CallStarted, CallEnded, ScarewarePage, SensitivePage, InstallerDownloaded)


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    """A verdict as plain JSON values."""
    return {
        "verdict_id": verdict.verdict_id,
        "at": verdict.at,
        "level": verdict.level.name,
        "tool_id": verdict.tool_id,
        "tool_name": verdict.tool_name,
        "trigger": verdict.trigger.value,
        "stage": verdict.stage.value,
        "minutes_from_trigger": verdict.minutes_from_trigger,
        "evidence": [
            {"code": e.code, "text": e.text, "params": dict(e.params)} for e in verdict.evidence
        ],
        "pids": list(verdict.pids),
    }


def verdict_from_dict(data: dict[str, Any]) -> Verdict:
    """The inverse of ``verdict_to_dict``; raises KeyError / ValueError on a bad record."""
    return Verdict(
        verdict_id=str(data["verdict_id"]),
        at=float(data["at"]),
        level=Level[data["level"]],
        tool_id=str(data["tool_id"]),
        tool_name=str(data["tool_name"]),
        trigger=Trigger(data["trigger"]),
        stage=Stage(data["stage"]),
        minutes_from_trigger=(
            None if data["minutes_from_trigger"] is None else float(data["minutes_from_trigger"])
        ),
        evidence=tuple(
            Evidence(str(e["code"]), str(e["text"]), tuple(sorted(e["params"].items())))
            for e in data["evidence"]
        ),
        pids=tuple(int(p) for p in data["pids"]),
    )


def _event_to_dict(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"event": type(event).__name__}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        out[f.name] = value.value if hasattr(value, "value") else value
    return out


class Journal:
    """Append-only JSON-lines journal; thread-safe; every record fsync'd."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- writing ---------------------------------------------------------------

    def record_verdict(self, verdict: Verdict) -> None:
        """Keep a verdict with all its evidence."""
        self._append({"type": "verdict", "ts": verdict.at, "verdict": verdict_to_dict(verdict)})

    def record_resolution(self, resolution: Resolution) -> None:
        """Keep what the person chose (or that nobody was asked)."""
        self._append(
            {
                "type": "outcome",
                "ts": resolution.at,
                "verdict_id": resolution.verdict.verdict_id,
                "outcome": resolution.outcome.value,
                "verdict": verdict_to_dict(resolution.verdict),
            }
        )

    def record_context(self, event: Event) -> None:
        """Keep a context event (call, page, download); process events are ignored."""
        if isinstance(event, CONTEXT_EVENTS):
            self._append({"type": "context", "ts": event.at, **_event_to_dict(event)})

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"schema": SCHEMA, **record}, ensure_ascii=False, sort_keys=True)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            self._rotate_if_big()
            fd = os.open(self.path, _OPEN_FLAGS, 0o600)
            try:
                if _ends_torn(fd):
                    data = b"\n" + data  # isolate a line torn by a crash
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def _rotate_if_big(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size >= self.max_bytes:
            os.replace(self.path, self.path.with_name(self.path.stem + ".1.jsonl"))
            log.info("journal rotated (kept one previous generation)")

    # -- reading ---------------------------------------------------------------

    def records(self, *, since: float | None = None) -> Iterator[dict[str, Any]]:
        """Every readable record, oldest first (previous generation included)."""
        for path in (self.path.with_name(self.path.stem + ".1.jsonl"), self.path):
            yield from read_records(path, since=since)


def _ends_torn(fd: int) -> bool:
    """True when the file's last byte is not a newline (a crash cut the last write)."""
    if os.fstat(fd).st_size == 0:
        return False
    os.lseek(fd, -1, os.SEEK_END)  # O_APPEND still sends the write to the end
    return os.read(fd, 1) != b"\n"


def read_records(path: Path, *, since: float | None = None) -> Iterator[dict[str, Any]]:
    """Records of one journal file; torn or foreign lines are skipped (and counted in the log)."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return
    skipped = 0
    with fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except ValueError:
                skipped += int(bool(raw.strip()))
                continue
            if not isinstance(record, dict) or record.get("schema") != SCHEMA:
                skipped += 1
                continue
            if since is not None and float(record.get("ts", 0.0)) < since:
                continue
            yield record
    if skipped:
        log.warning("journal: skipped %d unreadable line(s) (torn by a crash?)", skipped)


def outcome_of(record: dict[str, Any]) -> Outcome:
    """The ``Outcome`` of an outcome record."""
    return Outcome(record["outcome"])
