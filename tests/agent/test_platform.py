"""agent.platform: the OS family and the person's own folders."""

from __future__ import annotations

import sys

from agent.events import PathClass
from agent.platform import current_os, user_dirs


def test_current_os_names_this_platform() -> None:
    expected = {"linux": "linux", "darwin": "macos", "win32": "windows"}.get(sys.platform, "linux")
    assert current_os() == expected


def test_user_dirs_name_downloads_and_desktop() -> None:
    dirs = user_dirs()
    assert set(dirs) == {PathClass.DOWNLOADS, PathClass.DESKTOP}
    assert all(len(paths) == 1 and paths[0] for paths in dirs.values())
