"""Download origin on Windows: the ``Zone.Identifier`` alternate data stream.

Browsers (and Outlook, 7-Zip, ...) write "Mark of the Web" as a small INI
text in the ``Zone.Identifier`` stream of the downloaded file::

    [ZoneTransfer]
    ZoneId=3
    ReferrerUrl=https://anydesk.com/en/downloads
    HostUrl=https://download.anydesk.com/AnyDesk.exe

It is usually ANSI/UTF-8, but some writers use UTF-16 with a byte-order
mark; ``HostUrl`` may be the placeholder ``about:internet`` when unknown.
The stream is opened as ``<file>:Zone.Identifier``, which only NTFS (and
ReFS) understand; ``parse_zone_identifier`` is separate so the real format
is tested everywhere.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

MAX_STREAM_BYTES = 64 * 1024  # the stream is a few hundred bytes; anything larger is not it


@dataclass(frozen=True)
class ZoneInfo:
    """The Mark-of-the-Web fields ratwatch uses."""

    zone_id: int | None  # 3 = Internet, 4 = Restricted sites
    host_url: str | None
    referrer_url: str | None


def decode_stream(raw: bytes) -> str:
    """Bytes of the stream as text, honouring a UTF-16 or UTF-8 byte-order mark."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def parse_zone_identifier(text: str) -> ZoneInfo | None:
    """Parse the stream's INI text; None when it has no [ZoneTransfer] section."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    # Windows reads INI section names case-insensitively; so do we.
    name = next((n for n in parser.sections() if n.lower() == "zonetransfer"), None)
    if name is None:
        return None
    section = parser[name]
    zone_raw = section.get("zoneid", "").strip()
    host = section.get("hosturl", "").strip() or None
    if host is not None and host.lower().startswith("about:"):
        host = None  # "about:internet": the writer did not know the source
    referrer = section.get("referrerurl", "").strip() or None
    return ZoneInfo(
        zone_id=int(zone_raw) if zone_raw.isdigit() else None,
        host_url=host,
        referrer_url=referrer,
    )


def read_origin(path: Path) -> str | None:
    """The HostUrl (or, failing that, the ReferrerUrl) recorded for ``path``."""
    try:
        with open(f"{path}:Zone.Identifier", "rb") as fh:
            raw = fh.read(MAX_STREAM_BYTES)
    except OSError:
        return None  # no stream (not downloaded, FAT/exFAT drive, or gone again)
    info = parse_zone_identifier(decode_stream(raw))
    if info is None:
        return None
    return info.host_url or info.referrer_url
