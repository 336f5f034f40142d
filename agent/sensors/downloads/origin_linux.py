"""Download origin on Linux: the ``user.xdg.origin.url`` extended attribute.

The freedesktop.org convention for "where this file came from"; Chromium
sets it on every download, and ``wget --xattr`` / curl ``--xattr`` too. A
filesystem without user xattrs (some tmpfs, FAT) simply has none.
"""

from __future__ import annotations

import os
from pathlib import Path

ORIGIN_ATTR = "user.xdg.origin.url"


def read_origin(path: Path) -> str | None:
    """The recorded origin URL of ``path``, or None."""
    try:
        raw = os.getxattr(path, ORIGIN_ATTR)
    except OSError:
        # ENODATA (no such attribute), ENOTSUP (filesystem without xattrs),
        # ENOENT (the file is gone again): all mean "not known".
        return None
    text = raw.decode("utf-8", errors="replace").strip("\x00").strip()
    return text or None
