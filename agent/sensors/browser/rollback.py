"""Whether a history database's rollback journal is hot, decided the way SQLite decides it.

SQLite's file-format documentation ("hot journals") calls a rollback journal
hot, so that the next reader must roll it back first, only when all of these hold:
the journal exists and is not empty; no connection holds a RESERVED (or
stronger) lock on the database; the journal header is well-formed, not
zeroed; and it names no super-journal, or that super-journal still exists.

Anything else is not hot and SQLite reads the database file as it is. Real
browsers make the difference matter: Chromium keeps its History database in
exclusive locking mode with a transaction open between its commits (about
every 10 s), so a non-empty ``History-journal`` with a zeroed header sits
beside it most of the time. SQLite writes the header's magic only just before
it starts to overwrite database pages, so a zeroed header means the database
file still holds the last commit.

The check never takes a lock: on POSIX, ``fcntl(F_GETLK)`` asks whether a lock
*would* conflict (SQLite's unix VFS locks bytes at fixed offsets of the
database file). Windows has no such query (SQLite's locks there are
mandatory ``LockFileEx`` ranges and testing one means taking it, which could
make the browser's own write fail), so there a well-formed journal counts as
a write in progress until it has not changed for ``STALE_SECONDS``; a
journal left by a crash is unchanged for ever, a live write ends in
milliseconds.
"""

from __future__ import annotations

import enum
import os
import struct
import sys
import time
from pathlib import Path
from typing import BinaryIO

# The eight bytes every well-formed rollback journal starts with.
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
# The unix VFS's lock bytes (sqlite3.c: PENDING_BYTE, RESERVED_BYTE).
PENDING_BYTE = 0x4000_0000
RESERVED_BYTE = PENDING_BYTE + 1
# Where the lock cannot be observed: how long an unchanged journal must sit
# before it is taken for one left by a crash.
STALE_SECONDS = 30.0


class JournalState(enum.Enum):
    """What the journal beside a database means for a reader."""

    NONE = "none"  # no journal, or an empty one
    NOT_HOT = "not_hot"  # zeroed header, or its super-journal is gone: ignore it
    WRITING = "writing"  # a writer holds its lock: the database may be mid-write
    HOT = "hot"  # left by a crash: SQLite would roll it back before reading
    SUPER = "super"  # part of a multi-database transaction whose super-journal exists


def journal_path(db_path: Path) -> Path:
    """The rollback journal's path beside ``db_path``."""
    return Path(f"{db_path}-journal")


def journal_state(db_path: Path) -> JournalState:
    """Classify the rollback journal beside ``db_path`` (reads only; takes no lock)."""
    journal = journal_path(db_path)
    try:
        with journal.open("rb") as fh:
            header = fh.read(len(JOURNAL_MAGIC))
            size = os.fstat(fh.fileno()).st_size
            tail = _tail(fh, size)
    except FileNotFoundError:
        return JournalState.NONE
    if size == 0 or not header:
        return JournalState.NONE
    if header != JOURNAL_MAGIC:
        return JournalState.NOT_HOT
    if _writer_holds_lock(db_path, journal):
        return JournalState.WRITING
    return _hot_unless_super(tail)


def _hot_unless_super(tail: bytes) -> JournalState:
    """HOT, unless the journal belongs to a multi-database transaction."""
    super_journal = _super_journal_name(tail)
    if super_journal is None:
        return JournalState.HOT
    if not Path(super_journal).exists():
        return JournalState.NOT_HOT  # the multi-database transaction committed
    return JournalState.SUPER


def _tail(fh: BinaryIO, size: int) -> bytes:
    """The journal's last bytes, where a super-journal record would sit."""
    want = min(size, 4096)
    fh.seek(size - want)
    return fh.read(want)


def _super_journal_name(tail: bytes) -> str | None:
    """The super-journal a journal names in its final record, if any.

    The record (SQLite file format, "the super-journal pointer") ends the
    journal: the lock-byte page number, the name, its length (4 bytes), a
    checksum (4 bytes) and the journal magic.
    """
    if len(tail) < 16 + 4 or not tail.endswith(JOURNAL_MAGIC):
        return None
    (length,) = struct.unpack(">I", tail[-16:-12])
    if length == 0 or length > len(tail) - 20:
        return None
    name = tail[-16 - length : -16].rstrip(b"\0")
    return os.fsdecode(name) if name else None


def _writer_holds_lock(db_path: Path, journal: Path) -> bool:
    if os.name != "posix":
        try:
            age = time.time() - journal.stat().st_mtime
        except FileNotFoundError:
            return False
        return age < STALE_SECONDS
    return _reserved_locked(db_path)


def _reserved_locked(db_path: Path) -> bool:
    """Whether another process holds a lock on SQLite's RESERVED byte (POSIX F_GETLK)."""
    import fcntl

    try:
        fd = os.open(db_path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        # struct flock differs by OS: Linux puts the type first, the BSDs and
        # macOS put the offsets first. F_GETLK fills it in without locking.
        if sys.platform.startswith("linux"):
            layout = "@hhqqi4x"
            arg = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, RESERVED_BYTE, 1, 0)
            l_type = struct.unpack(layout, fcntl.fcntl(fd, fcntl.F_GETLK, arg))[0]
        else:
            layout = "@qqihh"
            arg = struct.pack(layout, RESERVED_BYTE, 1, 0, fcntl.F_WRLCK, os.SEEK_SET)
            l_type = struct.unpack(layout, fcntl.fcntl(fd, fcntl.F_GETLK, arg))[3]
    finally:
        # Closing drops every POSIX lock *this* process holds on the file; the
        # agent holds none on a browser's database.
        os.close(fd)
    return bool(l_type != fcntl.F_UNLCK)
