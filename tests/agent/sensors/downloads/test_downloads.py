"""The downloads sensor and the download-origin readers, on real files and real watchdog events."""

from __future__ import annotations

import errno
import logging
import os
import plistlib
import queue
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.catalogue.loader import load_catalogue
from agent.config import AgentConfig, DownloadsSection
from agent.events import Event, InstallerDownloaded
from agent.sensors import create
from agent.sensors.base import SensorContext
from agent.sensors.downloads.origin import from_vendor, origin_host, reader_for
from agent.sensors.downloads.origin_linux import ORIGIN_ATTR
from agent.sensors.downloads.origin_linux import read_origin as linux_origin
from agent.sensors.downloads.origin_macos import QUARANTINE, WHERE_FROMS
from agent.sensors.downloads.origin_macos import read_origin as macos_origin
from agent.sensors.downloads.origin_windows import decode_stream, parse_zone_identifier
from agent.sensors.downloads.sensor import DownloadsSensor, is_partial

CATALOGUE = load_catalogue()
PE_DIR = Path(__file__).resolve().parents[3] / "data" / "pe"
ANYDESK_URL = "https://download.anydesk.com/AnyDesk.exe"


def _xattr_dir(tmp_path: Path) -> Path:
    """A folder on a filesystem that takes user xattrs: tmp_path, else /dev/shm."""
    for candidate in (tmp_path, Path("/dev/shm")):
        probe = candidate / f"xattr-probe-{os.getpid()}"
        probe.write_bytes(b"x")
        try:
            os.setxattr(probe, "user.probe", b"1")
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EPERM, errno.EOPNOTSUPP):
                raise
            continue
        finally:
            probe.unlink()
        if candidate == tmp_path:
            return tmp_path
        own = Path(candidate) / f"ratwatch-test-{os.getpid()}-{time.monotonic_ns()}"
        own.mkdir()
        return own
    pytest.skip("no filesystem here accepts user extended attributes")


class Running:
    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def next(self, timeout: float = 6.0) -> Event:
        return self.events.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Running]]:
    folder = _xattr_dir(tmp_path) / "Downloads"
    folder.mkdir()
    ctx = SensorContext(
        config=AgentConfig(downloads=DownloadsSection(watch_dirs=(str(folder),))),
        catalogue=lambda: CATALOGUE,
        clock=time.time,
        state_dir=tmp_path,
    )
    sensor = DownloadsSensor(ctx)
    running = Running()
    sensor.start(running.events.put)
    try:
        yield folder, running
    finally:
        sensor.stop()
        if not str(folder).startswith(str(tmp_path)):
            shutil.rmtree(folder.parent, ignore_errors=True)


def test_chrome_style_download_gives_one_event_with_vendor_origin(
    watched: tuple[Path, Running],
) -> None:
    folder, running = watched
    partial = folder / "AnyDesk.exe.crdownload"
    with partial.open("wb") as fh:
        for _ in range(5):
            fh.write(os.urandom(64 * 1024))
            fh.flush()
            time.sleep(0.05)
    os.setxattr(partial, ORIGIN_ATTR, ANYDESK_URL.encode())  # Chromium sets it on Linux
    assert running.none_within(0.8)  # nothing while the name is partial
    partial.rename(folder / "AnyDesk.exe")
    event = running.next()
    assert isinstance(event, InstallerDownloaded)
    assert event.tool_id == "anydesk"
    assert event.path == str(folder / "AnyDesk.exe")
    assert event.origin_host == "download.anydesk.com"
    assert event.from_vendor is True
    assert running.none_within(1.5)  # once


def test_firefox_style_placeholder_and_part_file(watched: tuple[Path, Running]) -> None:
    folder, running = watched
    (folder / "TeamViewerQS_x64.exe").write_bytes(b"")  # Firefox's empty placeholder
    part = folder / "TeamViewerQS_x64.exe.part"
    part.write_bytes(os.urandom(200_000))
    os.setxattr(part, ORIGIN_ATTR, b"https://teamviewer-download.example.net/TeamViewerQS.exe")
    os.replace(part, folder / "TeamViewerQS_x64.exe")
    event = running.next()
    assert isinstance(event, InstallerDownloaded) and event.tool_id == "teamviewer"
    assert event.origin_host == "teamviewer-download.example.net"
    assert event.from_vendor is False  # not TeamViewer's own host
    assert running.none_within(1.5)


def test_renamed_portable_exe_is_known_by_its_version_resource(
    watched: tuple[Path, Running],
) -> None:
    folder, running = watched
    shutil.copyfile(PE_DIR / "renamed_tool.exe", folder / "support-tool.exe.crdownload")
    os.rename(folder / "support-tool.exe.crdownload", folder / "support-tool.exe")
    event = running.next()
    assert isinstance(event, InstallerDownloaded) and event.tool_id == "anydesk"
    assert event.origin_host is None and event.from_vendor is None


def test_files_that_are_no_remote_tool_give_nothing(watched: tuple[Path, Running]) -> None:
    folder, running = watched
    (folder / "belastingaangifte-2025.pdf.part").write_bytes(b"%PDF-1.7\n" + b"x" * 5000)
    os.rename(folder / "belastingaangifte-2025.pdf.part", folder / "belastingaangifte-2025.pdf")
    shutil.copyfile(PE_DIR / "plain.exe", folder / "setup.exe")
    (folder / "notes.txt").write_text("boodschappen")
    assert running.none_within(2.0)


def test_a_file_written_in_place_is_examined_once_complete(watched: tuple[Path, Running]) -> None:
    folder, running = watched
    with (folder / "AnyDesk (1).exe").open("wb") as fh:
        for _ in range(8):
            fh.write(os.urandom(32 * 1024))
            fh.flush()
            time.sleep(0.1)
    event = running.next()
    assert isinstance(event, InstallerDownloaded) and event.tool_id == "anydesk"
    assert running.none_within(1.5)


def test_partial_names() -> None:
    for name in ("a.exe.crdownload", "AnyDesk.exe.part", "x.download", "y.TMP", ".hidden"):
        assert is_partial(name)
    assert is_partial("Unconfirmed 123456.crdownload")
    for name in ("AnyDesk.exe", "TeamViewer_Setup.exe", "part.exe"):
        assert not is_partial(name)


def test_registry_factory(tmp_path: Path) -> None:
    ctx = SensorContext(
        config=AgentConfig(),
        catalogue=lambda: CATALOGUE,
        clock=time.time,
        state_dir=tmp_path,
    )
    assert create("downloads", ctx).name == "downloads"


# --- origin readers ---------------------------------------------------------------


def test_linux_xattr_origin_from_a_real_file(tmp_path: Path) -> None:
    folder = _xattr_dir(tmp_path)
    target = folder / "AnyDesk.exe"
    target.write_bytes(b"MZ")
    try:
        assert linux_origin(target) is None
        os.setxattr(target, ORIGIN_ATTR, ANYDESK_URL.encode())
        assert linux_origin(target) == ANYDESK_URL
        assert reader_for("linux")(target) == ANYDESK_URL
        assert linux_origin(folder / "gone.exe") is None
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder, ignore_errors=True)


ZONE_CHROME = (
    "[ZoneTransfer]\r\nZoneId=3\r\n"
    "ReferrerUrl=https://anydesk.com/en/downloads/windows\r\n"
    "HostUrl=https://download.anydesk.com/AnyDesk.exe\r\n"
)


@pytest.mark.parametrize(
    ("raw", "zone", "host", "referrer"),
    [
        (ZONE_CHROME.encode(), 3, ANYDESK_URL, "https://anydesk.com/en/downloads/windows"),
        (
            b"\xef\xbb\xbf" + ZONE_CHROME.encode(),
            3,
            ANYDESK_URL,
            "https://anydesk.com/en/downloads/windows",
        ),
        (b"[ZoneTransfer]\nZoneId=3\nHostUrl=about:internet\n", 3, None, None),
        (b"[ZoneTransfer]\nZoneId=4\n", 4, None, None),
        (
            b"[zonetransfer]\nzoneid=3\nhosturl=https://x.example/a.exe\n",
            3,
            "https://x.example/a.exe",
            None,
        ),
    ],
)
def test_zone_identifier_formats(
    raw: bytes, zone: int, host: str | None, referrer: str | None
) -> None:
    info = parse_zone_identifier(decode_stream(raw))
    assert info is not None
    assert (info.zone_id, info.host_url, info.referrer_url) == (zone, host, referrer)


def test_zone_identifier_utf16_and_junk() -> None:
    utf16 = ZONE_CHROME.encode("utf-16")  # with its byte-order mark, as PowerShell writes it
    info = parse_zone_identifier(decode_stream(utf16))
    assert info is not None and info.host_url == ANYDESK_URL
    assert parse_zone_identifier("HostUrl=https://x/") is None  # no section
    assert parse_zone_identifier("[Other]\nHostUrl=https://x/\n") is None
    assert parse_zone_identifier("\x00\x01garbage[[") is None


def test_windows_reader_without_a_stream_is_none(tmp_path: Path) -> None:
    """On Linux "<file>:Zone.Identifier" is just a name that does not exist."""
    target = tmp_path / "AnyDesk.exe"
    target.write_bytes(b"MZ")
    assert reader_for("windows")(target) is None


def _quarantine_db(path: Path, event_id: str, url: str) -> None:
    conn = sqlite3.connect(path)
    # The real LaunchServices table (QuarantineEventsV2).
    conn.execute(
        "CREATE TABLE LSQuarantineEvent (LSQuarantineEventIdentifier TEXT PRIMARY KEY NOT NULL, "
        "LSQuarantineTimeStamp REAL, LSQuarantineAgentBundleIdentifier TEXT, "
        "LSQuarantineAgentName TEXT, LSQuarantineDataURLString TEXT, LSQuarantineSenderName TEXT, "
        "LSQuarantineSenderAddress TEXT, LSQuarantineTypeNumber INTEGER, "
        "LSQuarantineOriginTitle TEXT, LSQuarantineOriginURLString TEXT, "
        "LSQuarantineOriginAlias BLOB)"
    )
    conn.execute(
        "INSERT INTO LSQuarantineEvent VALUES (?, 7e8, 'com.apple.Safari', 'Safari', ?, NULL, "
        "NULL, 0, NULL, 'https://anydesk.com/en/downloads/mac-os', NULL)",
        (event_id, url),
    )
    conn.commit()
    conn.close()


def test_macos_where_froms_and_quarantine_database(tmp_path: Path) -> None:
    """The attribute getter is the seam (xattr is macOS-only); the formats are real."""
    target = tmp_path / "AnyDesk.dmg"
    target.write_bytes(b"x")
    attrs: dict[str, bytes] = {}

    def get(path: Path, name: str) -> bytes:
        assert path == target
        if name not in attrs:
            raise OSError(errno.ENOATTR if hasattr(errno, "ENOATTR") else errno.ENODATA, name)
        return attrs[name]

    db = tmp_path / "QuarantineEventsV2"
    assert macos_origin(target, getxattr=get, quarantine_db=db) is None
    event_id = "2D9A8F0C-6E2B-4C1E-9B55-0A1B2C3D4E5F"
    attrs[QUARANTINE] = f"0083;65a1b2c3;Safari;{event_id}".encode()
    assert macos_origin(target, getxattr=get, quarantine_db=db) is None  # no database yet
    _quarantine_db(db, event_id, "https://download.anydesk.com/anydesk.dmg")
    assert (
        macos_origin(target, getxattr=get, quarantine_db=db)
        == "https://download.anydesk.com/anydesk.dmg"
    )
    attrs[WHERE_FROMS] = plistlib.dumps(
        ["https://get.anydesk.com/AnyDesk.dmg", "https://anydesk.com/"], fmt=plistlib.FMT_BINARY
    )
    assert (
        macos_origin(target, getxattr=get, quarantine_db=db)
        == "https://get.anydesk.com/AnyDesk.dmg"
    )
    attrs[WHERE_FROMS] = b"not a plist"
    assert (
        macos_origin(target, getxattr=get, quarantine_db=db)
        == "https://download.anydesk.com/anydesk.dmg"
    )


def test_vendor_host_check() -> None:
    anydesk = CATALOGUE.tool("anydesk")
    assert anydesk is not None
    assert origin_host(ANYDESK_URL) == "download.anydesk.com"
    assert origin_host("about:internet") is None
    assert origin_host(None) is None
    assert from_vendor("download.anydesk.com", anydesk) is True
    assert from_vendor("anydesk.com.evil.example", anydesk) is False
    assert from_vendor(None, anydesk) is None


def test_log_lines_name_the_tool_not_the_file_or_its_origin(
    watched: tuple[Path, Running],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="agent")
    folder, running = watched
    target = folder / "AnyDesk_for_Jan_de_Vries.exe.part"
    target.write_bytes(b"MZ" + os.urandom(1000))
    os.setxattr(target, ORIGIN_ATTR, b"https://download.anydesk.com/private-link-123")
    target.rename(folder / "AnyDesk_for_Jan_de_Vries.exe")
    assert isinstance(running.next(), InstallerDownloaded)
    wanted = "installer of anydesk downloaded (origin the vendor)"
    deadline = time.monotonic() + 5  # the sensor logs just after it emits

    def text() -> str:
        return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("agent"))

    while wanted not in text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert wanted in text()
    for secret in ("Jan_de_Vries", "private-link", "download.anydesk.com", str(folder)):
        assert secret not in text()


def test_a_failing_origin_reader_costs_a_log_line_not_the_sensor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The downloads thread had no guard: one error reading an origin ended it silently."""
    folder = tmp_path / "Downloads"
    folder.mkdir()
    reads = 0

    def flaky_origin(path: Path) -> str | None:
        nonlocal reads
        reads += 1
        if reads == 1:
            raise RuntimeError(f"unexpected trouble with {path}")
        return None

    ctx = SensorContext(
        config=AgentConfig(downloads=DownloadsSection(watch_dirs=(str(folder),))),
        catalogue=lambda: CATALOGUE,
        clock=time.time,
        state_dir=tmp_path,
    )
    caplog.set_level(logging.ERROR, logger="agent.sensors.base")
    sensor = DownloadsSensor(ctx, origin_reader=flaky_origin)
    running = Running()
    sensor.start(running.events.put)
    try:
        shutil.copyfile(PE_DIR / "renamed_tool.exe", folder / "first.exe")
        assert running.none_within(3.0)  # its origin read failed: no event, but ...
        shutil.copyfile(PE_DIR / "renamed_tool.exe", folder / "second.exe")
        event = running.next(timeout=10)  # ... the sensor still examines the next download
        assert isinstance(event, InstallerDownloaded) and event.path == str(folder / "second.exe")
    finally:
        sensor.stop()
    assert "examining downloads failed (RuntimeError" in caplog.text
    assert str(tmp_path) not in caplog.text
