"""The browser sensor on real history databases, real watchdog notifications, real threads."""

from __future__ import annotations

import importlib.util
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from agent.catalogue.loader import load_catalogue
from agent.config import AgentConfig, BrowserSection
from agent.events import Event, PageKind, ScarewarePage, SensitivePage
from agent.sensors import create
from agent.sensors.base import SensorContext
from agent.sensors.browser.profiles import (
    FIREFOX_ROOTS,
    PROFILE_LOCATIONS,
    default_history_files,
)
from agent.sensors.browser.sensor import BrowserSensor

CATALOGUE = load_catalogue()
SCARY = "Windows Defender Security Warning"
SCARY_URL = "http://203.0.113.5/alert/"


def _writer() -> ModuleType:
    path = Path(__file__).resolve().parents[3] / "data" / "history" / "history_writer.py"
    spec = importlib.util.spec_from_file_location("history_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _writer()


class Running:
    """A started sensor and the events it emitted."""

    def __init__(self, sensor: BrowserSensor) -> None:
        self.sensor = sensor
        self.events: queue.Queue[Event] = queue.Queue()

    def next(self, timeout: float = 5.0) -> Event:
        return self.events.get(timeout=timeout)

    def none_within(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


def _ctx(tmp_path: Path, paths: list[Path]) -> SensorContext:
    config = AgentConfig(
        browser=BrowserSection(history_paths=tuple(str(p) for p in paths), default_profiles=False)
    )
    return SensorContext(
        config=config, catalogue=lambda: CATALOGUE, clock=time.time, state_dir=tmp_path
    )


@pytest.fixture
def run_sensor(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    started: list[BrowserSensor] = []

    def start(*paths: Path) -> Running:
        sensor = BrowserSensor(_ctx(tmp_path, list(paths)))
        running = Running(sensor)
        sensor.start(running.events.put)
        started.append(sensor)
        return running

    yield start
    for sensor in started:
        sensor.stop()


@pytest.mark.parametrize(
    ("cls", "name"), [(W.ChromiumHistory, "History"), (W.FirefoxHistory, "places.sqlite")]
)
def test_a_new_scareware_visit_becomes_an_event(run_sensor, tmp_path: Path, cls, name) -> None:  # type: ignore[no-untyped-def]
    hist = cls(tmp_path / "profile" / name)
    hist.add_visit("https://nos.nl/", "NOS Nieuws", time.time() - 60)
    running = run_sensor(hist.path)
    assert running.none_within(0.5)  # an ordinary page is no event
    hist.add_visit(SCARY_URL, SCARY, time.time())
    event = running.next()
    assert isinstance(event, ScarewarePage)
    assert event.pattern_id == "scareware-blocked-en"
    assert event.source == cls.flavour
    assert (event.title, event.url) == (SCARY, SCARY_URL)
    hist.add_visit("https://mijn.ing.nl/login/", "Inloggen Mijn ING", time.time())
    sensitive = running.next()
    assert isinstance(sensitive, SensitivePage)
    assert (sensitive.kind, sensitive.pattern_id) == (PageKind.BANKING, "banking-ing")
    hist.close()


def test_a_visit_from_just_before_start_is_reported_older_ones_not(
    run_sensor: Callable[..., Running], tmp_path: Path
) -> None:
    hist = W.ChromiumHistory(tmp_path / "History")
    hist.add_visit("http://old.example/", "Your computer has been blocked", time.time() - 7200)
    hist.add_visit(SCARY_URL, SCARY, time.time() - 120)
    running = run_sensor(hist.path)
    event = running.next()
    assert isinstance(event, ScarewarePage) and event.url == SCARY_URL
    assert running.none_within(0.5)
    hist.close()


def test_the_title_that_arrives_after_the_visit_is_matched(
    run_sensor: Callable[..., Running], tmp_path: Path
) -> None:
    hist = W.ChromiumHistory(tmp_path / "History")
    running = run_sensor(hist.path)
    _, page = hist.add_visit("http://pc-check-online.xyz/", "", time.time())
    assert running.none_within(0.8)
    hist.set_title(page, "Uw computer is geblokkeerd")
    event = running.next()
    assert isinstance(event, ScarewarePage) and event.pattern_id == "scareware-blocked-nl"
    hist.close()


@pytest.mark.parametrize(
    ("cls", "name"), [(W.ChromiumHistory, "History"), (W.FirefoxHistory, "places.sqlite")]
)
def test_a_title_changed_after_load_is_matched(run_sensor, tmp_path: Path, cls, name) -> None:  # type: ignore[no-untyped-def]
    """ "Loading..." first, the scary title later: Firefox writes both to moz_places.title."""
    hist = cls(tmp_path / "profile" / name)
    running = run_sensor(hist.path)
    _, page = hist.add_visit("http://pc-check-online.xyz/", "Loading\u2026", time.time())
    assert running.none_within(0.8)
    hist.set_title(page, "Still loading")
    assert running.none_within(0.8)
    hist.set_title(page, "Your computer has been blocked")
    event = running.next()
    assert isinstance(event, ScarewarePage) and event.title == "Your computer has been blocked"
    hist.close()


def test_a_configured_path_that_is_missing_or_a_folder_is_one_clear_warning(
    run_sensor: Callable[..., Running],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    missing = home / "profile" / "History"
    folder = home / "snap"
    folder.mkdir(parents=True)
    caplog.set_level(logging.INFO, logger="agent")
    running = run_sensor(missing, folder)
    running.sensor._rescan()  # the minute's rescan: no second warning
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "[browser].history_paths entry 1 (~/profile/History) does not exist:"
        " not watched until it is a file",
        "[browser].history_paths entry 2 (~/snap) is a folder, not a history file:"
        " not watched until it is a file",
    ]
    assert "watching 0 history database(s)" in caplog.text
    assert str(home) not in caplog.text
    hist = W.ChromiumHistory(missing)  # the browser creates it later
    hist.add_visit(SCARY_URL, SCARY, time.time())
    running.sensor._rescan()
    assert isinstance(running.next(), ScarewarePage)
    assert "entry 1 now exists" in caplog.text
    hist.close()


def test_locked_then_released_database_is_read_after_retry(
    run_sensor: Callable[..., Running], tmp_path: Path
) -> None:
    hist = W.ChromiumHistory(tmp_path / "History", wal=False)
    hist.close()  # the writer is another process, as the browser is
    running = run_sensor(hist.path)
    time.sleep(0.3)  # the first read has happened
    writer = W.HeldWrite(hist.path, "spill")
    try:
        assert running.none_within(1.0)  # mid-write: retried, nothing half-read
        writer.commit()
        event = running.next(timeout=10)
        assert isinstance(event, ScarewarePage) and event.url == SCARY_URL
    finally:
        writer.close()


def test_corrupt_database_is_retried_and_never_stops_the_sensor(
    run_sensor: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken" / "History"
    broken.parent.mkdir()
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    good = W.FirefoxHistory(tmp_path / "good" / "places.sqlite")
    caplog.set_level(logging.DEBUG, logger="agent.sensors.browser.sensor")
    running = run_sensor(broken, good.path)
    time.sleep(0.8)
    assert "not readable now" in caplog.text
    good.add_visit(SCARY_URL, SCARY, time.time())  # the other database still works
    assert isinstance(running.next(), ScarewarePage)
    broken.unlink()  # the browser rewrites the file: picked up on a later retry
    fixed = W.ChromiumHistory(broken)
    fixed.add_visit("http://x.top/", "Votre ordinateur a été bloqué", time.time())
    event = running.next(timeout=10)
    assert isinstance(event, ScarewarePage) and event.pattern_id == "scareware-blocked-fr"
    fixed.close()
    good.close()


def test_no_title_or_url_in_any_log_line(
    run_sensor: Callable[..., Running], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hist = W.ChromiumHistory(tmp_path / "secret-user" / "History")
    running = run_sensor(hist.path)
    hist.add_visit(
        "http://198.51.100.7/call/?phone=18885550199", "Call +1-888-555-0199", time.time()
    )
    assert isinstance(running.next(), ScarewarePage)
    hist.add_visit("https://mijn.ing.nl/secret-account", "Mijn ING", time.time())
    assert isinstance(running.next(), SensitivePage)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("agent"))
    assert "pattern scareware-phone-in-title" in text
    for secret in ("198.51.100.7", "555-0199", "secret-account", "Mijn ING", "secret-user"):
        assert secret not in text
    hist.close()


def test_registry_and_default_locations(tmp_path: Path) -> None:
    sensor = create("browser", _ctx(tmp_path, []))
    assert sensor.name == "browser"
    home = tmp_path / "home"
    for rel in (
        ".config/google-chrome/Default/History",
        ".config/google-chrome/Profile 1/History",
        ".config/microsoft-edge/Default/History",
        ".config/BraveSoftware/Brave-Browser/Default/History",
        ".mozilla/firefox/abcd1234.default-release/places.sqlite",
    ):
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_bytes(b"")
    found = default_history_files("linux", home=home, env={})
    assert sorted(f.browser for f in found) == ["brave", "chrome", "chrome", "edge", "firefox"]
    local = tmp_path / "Local"
    (local / "Microsoft/Edge/User Data/Default").mkdir(parents=True)
    (local / "Microsoft/Edge/User Data/Default/History").write_bytes(b"")
    win = default_history_files("windows", home=home, env={"LOCALAPPDATA": str(local)})
    assert [f.browser for f in win] == ["edge"]
    for os_name in ("windows", "macos", "linux"):
        browsers = {loc.browser for loc in PROFILE_LOCATIONS if loc.os_name == os_name}
        assert {"chrome", "edge", "brave", "chromium"} <= browsers
        assert any(root.os_name == os_name for root in FIREFOX_ROOTS)


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_linux_locations_xdg_snap_flatpak_and_profiles_ini(tmp_path: Path) -> None:
    """Firefox's XDG folder, the legacy one, Snap and Flatpak, and profiles.ini's own paths."""
    home = tmp_path / "home"
    elsewhere = tmp_path / "disk2" / "ff-profile"
    rels = {
        ".config/mozilla/firefox/k3j2.default-esr/places.sqlite": "firefox",
        ".mozilla/firefox/abcd.default-release/places.sqlite": "firefox",
        "snap/firefox/common/.mozilla/firefox/x.default/places.sqlite": "firefox",
        ".var/app/org.mozilla.firefox/.mozilla/firefox/y.default/places.sqlite": "firefox",
        ".var/app/org.mozilla.firefox/config/mozilla/firefox/z.default/places.sqlite": "firefox",
        ".config/chromium/Default/History": "chromium",
        "snap/chromium/common/chromium/Default/History": "chromium",
        ".var/app/org.chromium.Chromium/config/chromium/Default/History": "chromium",
        ".var/app/com.google.Chrome/config/google-chrome/Default/History": "chrome",
        ".var/app/com.microsoft.Edge/config/microsoft-edge/Default/History": "edge",
        ".var/app/com.brave.Browser/config/BraveSoftware/Brave-Browser/Default/History": "brave",
        "snap/brave/current/.config/BraveSoftware/Brave-Browser/Default/History": "brave",
    }
    for rel in rels:
        _touch(home / rel)
    _touch(elsewhere / "places.sqlite")
    _touch(home / ".config/mozilla/firefox/Profiles/inside/places.sqlite")
    (home / ".config/mozilla/firefox/profiles.ini").write_text(
        "[General]\nStartWithLastProfile=1\n\n"
        "[Profile0]\nName=default-esr\nIsRelative=1\nPath=k3j2.default-esr\n\n"
        f"[Profile1]\nName=moved\nIsRelative=0\nPath={elsewhere}\n\n"
        "[Profile2]\nName=nested\nIsRelative=1\nPath=Profiles/inside\n\n"
        "[Profile3]\nName=gone\nIsRelative=1\nPath=nothing-here\n"
    )
    (home / ".mozilla/firefox/profiles.ini").write_text("\x00garbage [ no section\n")
    found = {f.path: f.browser for f in default_history_files("linux", home=home, env={})}
    expected = {home / rel: browser for rel, browser in rels.items()}
    expected[elsewhere / "places.sqlite"] = "firefox"
    expected[home / ".config/mozilla/firefox/Profiles/inside/places.sqlite"] = "firefox"
    assert found == expected  # each once: the k3j2 profile is both globbed and in profiles.ini
    xdg = tmp_path / "xdg"
    _touch(xdg / "mozilla/firefox/p.default/places.sqlite")
    moved = default_history_files("linux", home=home, env={"XDG_CONFIG_HOME": str(xdg)})
    assert xdg / "mozilla/firefox/p.default/places.sqlite" in {f.path for f in moved}


def test_idle_sensor_does_not_reread_its_own_copies(
    run_sensor: Callable[..., Running], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copying the file makes the OS report opens/closes; those must not cause reads."""
    import agent.sensors.browser.sensor as browser_module

    reads: list[float] = []
    real = browser_module.read_history  # type: ignore[attr-defined]  # the seam under test

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(browser_module, "read_history", counting)
    hist = W.ChromiumHistory(tmp_path / "History")
    hist.add_visit("https://nos.nl/", "NOS", time.time())
    run_sensor(hist.path)
    time.sleep(1.5)
    assert len(reads) == 1  # the first read only
    hist.close()


def _thread_cpu_seconds(thread: threading.Thread) -> float:
    """User + system CPU time of one thread, from /proc (Linux)."""
    assert thread.native_id is not None
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("with_database", [False, True])
def test_idle_sensor_sleeps_through_its_rescans(
    run_sensor: Callable[..., Running],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    with_database: bool,
) -> None:
    """Idle for many rescan periods, the reader thread stays asleep (it once spun a core)."""
    import agent.sensors.browser.sensor as browser_module

    monkeypatch.setattr(browser_module, "RESCAN_SECONDS", 0.25)
    paths = []
    if with_database:
        hist = W.ChromiumHistory(tmp_path / "History")
        hist.add_visit("https://nos.nl/", "NOS", time.time())
        hist.close()
        paths.append(hist.path)
    running = run_sensor(*paths)
    reader = running.sensor._thread
    assert reader is not None
    time.sleep(0.5)  # past the first read and the first rescan
    before = _thread_cpu_seconds(reader)
    time.sleep(3.0)  # twelve rescan periods
    used = _thread_cpu_seconds(reader) - before
    assert reader.is_alive()
    assert used < 0.3, f"reader thread used {used:.2f} s of CPU in 3 s idle"


def test_a_profile_created_after_start_is_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The periodic rescan finds a browser installed (or a profile made) after start."""
    import agent.sensors.browser.sensor as browser_module
    from agent.sensors.browser.profiles import HistoryFile

    monkeypatch.setattr(browser_module, "RESCAN_SECONDS", 0.25)
    late = tmp_path / "late-profile" / "History"

    def defaults() -> list[HistoryFile]:
        return [HistoryFile("chromium", late)] if late.exists() else []

    sensor = BrowserSensor(_ctx(tmp_path, []), defaults=defaults)
    events: queue.Queue[Event] = queue.Queue()
    sensor.start(events.put)
    try:
        time.sleep(0.6)  # several rescans with nothing to find
        hist = W.ChromiumHistory(late)
        hist.add_visit(SCARY_URL, SCARY, time.time())
        hist.close()
        event = events.get(timeout=5)
        assert isinstance(event, ScarewarePage) and event.source == "chromium"
    finally:
        sensor.stop()
