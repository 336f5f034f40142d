"""Path classes for Windows, macOS and Linux, from path strings (no file system needed)."""

from __future__ import annotations

import pytest

from agent.events import PathClass
from agent.identify.pathclass import classify_path, split_path

D, DESK, T, PF, S, OTH = (
    PathClass.DOWNLOADS,
    PathClass.DESKTOP,
    PathClass.TEMP,
    PathClass.PROGRAM_FILES,
    PathClass.SYSTEM,
    PathClass.OTHER,
)

WINDOWS_HOME = r"C:\Users\Anna"


@pytest.mark.parametrize(
    ("exe", "expected"),
    [
        (r"C:\Users\Anna\Downloads\AnyDesk.exe", D),
        (r"c:\users\anna\downloads\sub\AnyDesk (1).exe", D),
        (r"C:/Users/Anna/Downloads/AnyDesk.exe", D),  # forward slashes
        (r"\\?\C:\Users\Anna\Downloads\AnyDesk.exe", D),  # long-path form
        (r"\Device\HarddiskVolume3\Users\Anna\Downloads\x.exe", D),  # NT device form
        (r"C:\Users\Bob\Downloads\TeamViewerQS.exe", D),  # another profile, same rule
        (r"D:\Profiles\Anna\Downloads\AnyDesk.exe", OTH),  # redirected profile, not home
        (r"C:\Users\Anna\Desktop\SupportTool.exe", DESK),
        (r"C:\Users\Anna\OneDrive\Desktop\tool.exe", DESK),
        (r"C:\Users\Anna\OneDrive - Contoso\Bureaublad\tool.exe", DESK),
        (r"C:\Users\Anna\AppData\Local\Temp\Temp1_AnyDesk.zip\AnyDesk.exe", T),
        (r"C:\Users\Anna\AppData\Local\Temp\7zO8A2.tmp\ammyy.exe", T),
        (
            r"C:\Users\Anna\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\X\a.exe",
            T,
        ),
        (r"C:\Windows\Temp\setup.exe", T),
        (r"C:\Program Files\TeamViewer\TeamViewer.exe", PF),
        (r"C:\Program Files (x86)\AnyDesk\AnyDesk.exe", PF),
        (r"C:\Users\Anna\AppData\Local\Programs\Zoom\zoom.exe", PF),
        (r"C:\Windows\System32\msra.exe", S),
        (r"C:\WINDOWS\system32\eventvwr.exe", S),
        (r"C:\ProgramData\chocolatey\bin\tool.exe", OTH),
        (r"C:\Users\Anna\Documents\tool.exe", OTH),
        (r"\\fileserver\share\tool.exe", OTH),  # UNC: no rule can place it
        ("AnyDesk.exe", OTH),  # relative
        ("", OTH),
    ],
)
def test_windows(exe: str, expected: PathClass) -> None:
    assert classify_path(exe, os_name="windows", home=WINDOWS_HOME) is expected


def test_windows_redirected_home_is_recognised() -> None:
    home = r"D:\Profiles\Anna"
    assert classify_path(r"D:\Profiles\Anna\Downloads\a.exe", os_name="windows", home=home) is D
    assert (
        classify_path(r"D:\Profiles\Anna\AppData\Local\Temp\a.exe", os_name="windows", home=home)
        is T
    )


MAC_HOME = "/Users/anna"


@pytest.mark.parametrize(
    ("exe", "expected"),
    [
        ("/Users/anna/Downloads/AnyDesk.app/Contents/MacOS/AnyDesk", D),
        ("/users/ANNA/downloads/x", D),  # APFS is case-insensitive by default
        (
            "/private/var/folders/xy/abc123/T/AppTranslocation/1F2E/d/AnyDesk.app/Contents/MacOS/AnyDesk",
            D,
        ),
        ("/Users/anna/Desktop/TeamViewerQS.app/Contents/MacOS/TeamViewerQS", DESK),
        ("/private/var/folders/xy/abc123/T/tool", T),
        ("/tmp/tool", T),
        ("/private/tmp/tool", T),
        ("/Applications/TeamViewer.app/Contents/MacOS/TeamViewer", PF),
        ("/Users/anna/Applications/RustDesk.app/Contents/MacOS/rustdesk", PF),
        ("/opt/homebrew/bin/vncviewer", PF),
        ("/usr/local/bin/tool", PF),
        ("/System/Library/CoreServices/Screen Sharing.app/Contents/MacOS/Screen Sharing", S),
        ("/usr/bin/top", S),
        ("/sbin/launchd", S),
        ("/Volumes/AnyDesk/AnyDesk.app/Contents/MacOS/AnyDesk", OTH),
        ("/Users/anna/Documents/tool", OTH),
    ],
)
def test_macos(exe: str, expected: PathClass) -> None:
    assert classify_path(exe, os_name="macos", home=MAC_HOME) is expected


LINUX_HOME = "/home/anna"


@pytest.mark.parametrize(
    ("exe", "expected"),
    [
        ("/home/anna/Downloads/anydesk", D),
        ("/home/bob/Downloads/rustdesk.AppImage", D),
        ("/home/anna/downloads/anydesk", OTH),  # Linux file names are case-sensitive
        ("/root/Downloads/anydesk", D),
        ("/var/home/anna/Downloads/anydesk", D),  # Fedora Silverblue homes
        ("/home/anna/Desktop/anydesk", DESK),
        ("/home/anna/Bureaublad/anydesk", DESK),
        ("/tmp/.mount_rustdeXYZ/usr/bin/rustdesk", T),  # a running AppImage
        ("/var/tmp/x", T),
        ("/dev/shm/x", T),
        ("/run/user/1000/x", T),
        ("/opt/teamviewer/tv_bin/TeamViewer", PF),
        ("/usr/local/bin/x11vnc", PF),
        ("/snap/remmina/123/usr/bin/remmina", PF),
        ("/home/anna/.local/share/flatpak/app/x/bin/x", PF),
        ("/usr/bin/anydesk", S),
        ("/usr/lib/x86_64-linux-gnu/libexec/x", S),
        ("/bin/sh", S),
        ("/home/anna/src/tool", OTH),
        ("/srv/tool", OTH),
    ],
)
def test_linux(exe: str, expected: PathClass) -> None:
    assert classify_path(exe, os_name="linux", home=LINUX_HOME) is expected


def test_home_outside_the_usual_roots() -> None:
    assert (
        classify_path("/srv/users/anna/Downloads/x", os_name="linux", home="/srv/users/anna") is D
    )
    # Without that home the same path is nothing special.
    assert classify_path("/srv/users/anna/Downloads/x", os_name="linux", home="") is OTH


def test_home_with_glob_characters_matches_literally() -> None:
    home = "/srv/[a]nna"
    assert classify_path("/srv/[a]nna/Downloads/x", os_name="linux", home=home) is D
    assert classify_path("/srv/anna/Downloads/x", os_name="linux", home=home) is OTH


def test_localised_user_dirs_from_the_os() -> None:
    dirs = {PathClass.DOWNLOADS: ["/home/anna/Téléchargements"]}
    got = classify_path(
        "/home/anna/Téléchargements/anydesk", os_name="linux", home=LINUX_HOME, user_dirs=dirs
    )
    assert got is D
    assert (
        classify_path("/home/anna/Téléchargements/anydesk", os_name="linux", home=LINUX_HOME) is OTH
    )


def test_the_executable_itself_is_not_a_folder() -> None:
    # A file named like a rule folder, directly in the root, is not inside it.
    assert classify_path("/tmp", os_name="linux", home=LINUX_HOME) is OTH
    assert classify_path(r"C:\Windows", os_name="windows", home=WINDOWS_HOME) is OTH


def test_unknown_os_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown OS 'beos'"):
        classify_path("/x", os_name="beos", home="")


def test_split_path() -> None:
    assert split_path(r"C:\A\b.exe", os_name="windows") == ("a", "b.exe")
    assert split_path("/A/./b", os_name="linux") == ("A", "b")
    assert split_path("relative/x", os_name="linux") is None
