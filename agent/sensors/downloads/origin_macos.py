"""Download origin on macOS: ``kMDItemWhereFroms``, else the quarantine event database.

Safari, Chrome and Firefox set two extended attributes on a download:
- ``com.apple.metadata:kMDItemWhereFroms``: a binary property list, an
  array of strings (the download URL, then the referring page);
- ``com.apple.quarantine``: ``flags;hex-time;agent;event-UUID``. The URL is
  not in it: the UUID keys a row of the LaunchServices quarantine database
  (``~/Library/Preferences/com.apple.LaunchServices.QuarantineEventsV2``,
  table ``LSQuarantineEvent``, column ``LSQuarantineDataURLString``).

Extended attributes are read with the ``xattr`` package (a dependency on
macOS only); the reader takes the attribute getter and the database path
as arguments so the real formats are tested on any OS.
"""

from __future__ import annotations

import plistlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

WHERE_FROMS = "com.apple.metadata:kMDItemWhereFroms"
QUARANTINE = "com.apple.quarantine"
QUARANTINE_DB = Path("Library/Preferences/com.apple.LaunchServices.QuarantineEventsV2")

GetXattr = Callable[[Path, str], bytes]


def _system_getxattr(path: Path, name: str) -> bytes:
    import xattr  # macOS only (pyproject: xattr; sys_platform == 'darwin')

    return bytes(xattr.getxattr(str(path), name))


def where_froms(raw: bytes) -> str | None:
    """The first URL of a kMDItemWhereFroms property list."""
    try:
        value = plistlib.loads(raw)
    except (plistlib.InvalidFileException, ValueError, OverflowError):
        return None
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and "://" in item:
                return item
    return None


def quarantine_event_id(raw: bytes) -> str | None:
    """The event UUID of a com.apple.quarantine value (its fourth field)."""
    fields = raw.decode("utf-8", errors="replace").strip("\x00").split(";")
    return fields[3].strip() if len(fields) >= 4 and fields[3].strip() else None


def quarantine_url(db: Path, event_id: str) -> str | None:
    """Look up the download URL of a quarantine event; None when not there."""
    if not db.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(
            "SELECT LSQuarantineDataURLString, LSQuarantineOriginURLString "
            "FROM LSQuarantineEvent WHERE LSQuarantineEventIdentifier = ? COLLATE NOCASE",
            (event_id,),
        ).fetchone()
    except sqlite3.Error:
        return None  # busy, or a schema we do not know
    finally:
        conn.close()
    if row is None:
        return None
    return str(row[0] or row[1] or "") or None


def read_origin(
    path: Path,
    *,
    getxattr: GetXattr | None = None,
    quarantine_db: Path | None = None,
) -> str | None:
    """The download URL macOS recorded for ``path``, or None."""
    get = getxattr or _system_getxattr
    try:
        url = where_froms(get(path, WHERE_FROMS))
    except OSError:
        url = None
    if url:
        return url
    try:
        event_id = quarantine_event_id(get(path, QUARANTINE))
    except OSError:
        return None
    if event_id is None:
        return None
    return quarantine_url(quarantine_db or Path.home() / QUARANTINE_DB, event_id)
