"""The calls sensor and its microphone probes, on /proc/asound and consent-store fixtures."""

from __future__ import annotations

import logging
import queue
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.catalogue.loader import load_catalogue
from agent.config import AgentConfig, SensorsSection
from agent.events import CallEnded, CallerKind, CallStarted, Event
from agent.sensors import create
from agent.sensors.base import SensorContext
from agent.sensors.calls.mic import MicState, UnsupportedProbe, probe_for
from agent.sensors.calls.mic_linux import AsoundProbe, capture_running
from agent.sensors.calls.mic_windows import CONSENT_STORE, ConsentStoreProbe, app_name
from agent.sensors.calls.sensor import CallsSensor, running_process_names, softphone_in_use

CATALOGUE = load_catalogue()
DATA = Path(__file__).resolve().parents[3] / "data"
ASOUND = DATA / "asound"
REG = DATA / "consentstore"
HKCU = "HKEY_CURRENT_USER\\"


class RegFileReader:
    """The RegistryReader seam over a regedit ``.reg`` export (winreg cannot exist here)."""

    def __init__(self, path: Path) -> None:
        self.keys: dict[str, dict[str, object]] = {}
        current: dict[str, object] | None = None
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                name = line[1:-1]
                assert name.startswith(HKCU)
                current = self.keys.setdefault(name[len(HKCU) :].lower(), {})
            elif current is not None and (m := re.match(r'^"([^"]+)"=(.*)$', line)):
                current[m.group(1)] = self._parse(m.group(2))

    @staticmethod
    def _parse(raw: str) -> object:
        if raw.startswith("hex(b):"):
            return struct.unpack("<Q", bytes(int(b, 16) for b in raw[7:].split(",")))[0]
        if raw.startswith("dword:"):
            return int(raw[6:], 16)
        return raw.strip('"')

    def subkeys(self, path: str) -> list[str]:
        prefix = path.lower() + "\\"
        out = []
        for key in self.keys:
            if key.startswith(prefix) and "\\" not in key[len(prefix) :]:
                out.append(key[len(prefix) :])
        return out

    def value(self, path: str, name: str) -> object:
        return self.keys.get(path.lower(), {}).get(name)


def _ctx(tmp_path: Path, poll: float = 0.05) -> SensorContext:
    return SensorContext(
        config=AgentConfig(sensors=SensorsSection(call_poll_seconds=poll)),
        catalogue=lambda: CATALOGUE,
        clock=time.time,
        state_dir=tmp_path,
    )


# --- Linux: /proc/asound ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "capturing"),
    [
        ("idle", False),
        ("playback_only", False),
        ("prepared_only", False),
        ("capturing_usb_headset", True),
    ],
)
def test_asound_fixture_trees(tree: str, capturing: bool) -> None:
    assert AsoundProbe(ASOUND / tree).state() == MicState(capturing=capturing)


def test_asound_missing_root_and_status_texts(tmp_path: Path) -> None:
    assert AsoundProbe(tmp_path / "no-asound").state() == MicState(capturing=False)
    assert capture_running("state: RUNNING\nowner_pid   : 12\n")
    assert capture_running("state: DRAINING\n")
    assert not capture_running("closed\n")
    assert not capture_running("state: XRUN\n")
    assert not capture_running("")


def test_the_real_proc_asound_is_read_without_error() -> None:
    """Whatever this machine has (often no sound card at all), reading it works."""
    state = AsoundProbe().state()
    assert state.capturing in (True, False)


# --- Windows: the consent store through the registry seam -------------------------------


@pytest.mark.parametrize(
    ("fixture", "apps"),
    [
        ("idle.reg", ()),
        ("phone_link_call.reg", ("microsoft.yourphone_8wekyb3d8bbwe",)),
        ("zoiper_call.reg", ("zoiper5.exe",)),
        ("recorder_only.reg", ("audacity.exe", "microsoft.windowssoundrecorder_8wekyb3d8bbwe")),
    ],
)
def test_consent_store_fixtures(fixture: str, apps: tuple[str, ...]) -> None:
    state = ConsentStoreProbe(RegFileReader(REG / fixture)).state()
    assert state == MicState(capturing=bool(apps), apps=apps)


def test_consent_store_without_the_key_is_not_capturing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.reg"
    empty.write_text("Windows Registry Editor Version 5.00\r\n", encoding="utf-8")
    assert ConsentStoreProbe(RegFileReader(empty)).state() == MicState(capturing=False)
    assert app_name("C:#Program Files#Zoom#bin#Zoom.exe") == "zoom.exe"
    assert CONSENT_STORE.endswith("ConsentStore\\microphone")


@pytest.mark.parametrize(
    ("fixture", "softphone"),
    [
        ("idle.reg", None),
        ("phone_link_call.reg", "phone-link"),
        ("zoiper_call.reg", "zoiper"),
        ("recorder_only.reg", None),  # recording a voice memo is no call
    ],
)
def test_windows_names_the_app_so_no_process_scan_is_needed(
    fixture: str, softphone: str | None
) -> None:
    def no_scan() -> list[str]:
        raise AssertionError("the process list is not needed when Windows names the app")

    state = ConsentStoreProbe(RegFileReader(REG / fixture)).state()
    phone = softphone_in_use(CATALOGUE, state, no_scan)
    assert (phone.softphone_id if phone else None) == softphone


def test_probe_registry_per_os() -> None:
    assert isinstance(probe_for("linux"), AsoundProbe)
    assert isinstance(probe_for("windows"), ConsentStoreProbe)
    mac = probe_for("macos")
    assert isinstance(mac, UnsupportedProbe) and mac.state() == MicState(capturing=None)
    assert isinstance(probe_for("plan9"), UnsupportedProbe)


# --- the sensor ---------------------------------------------------------------------------


class SwitchableAsound:
    """A fixture tree whose capture stream the test turns on and off."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "asound"
        shutil.copytree(ASOUND / "idle", self.root)
        self.status = self.root / "card1" / "pcm0c" / "sub0" / "status"
        self.running = (ASOUND / "capturing_usb_headset/card1/pcm0c/sub0/status").read_text()

    def capture(self, on: bool) -> None:
        self.status.write_text(self.running if on else "closed\n")


def test_sensor_call_started_and_ended_with_a_real_softphone_process(tmp_path: Path) -> None:
    """A real child process named like a softphone (Linux: "zoiper") and the capture stream."""
    asound = SwitchableAsound(tmp_path)
    fake = tmp_path / "zoiper"
    shutil.copyfile(sys.executable, fake)
    fake.chmod(0o755)
    child = subprocess.Popen([str(fake), "-c", "import time; time.sleep(60)"])
    events: list[Event] = []
    sensor = CallsSensor(_ctx(tmp_path), probe=AsoundProbe(asound.root))
    sensor.start(events.append)
    try:
        time.sleep(0.3)
        assert events == []  # zoiper runs, microphone closed: no call
        asound.capture(True)
        deadline = time.monotonic() + 5
        while not events and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(events) == 1 and isinstance(events[0], CallStarted)
        assert events[0].caller is CallerKind.UNVERIFIED and events[0].source == "softphone"
        asound.capture(False)
        while len(events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert isinstance(events[1], CallEnded) and events[1].source == "softphone"
    finally:
        sensor.stop()
        child.kill()
        child.wait()


def test_microphone_without_a_softphone_is_no_call(tmp_path: Path) -> None:
    events: list[Event] = []
    sensor = CallsSensor(
        _ctx(tmp_path),
        probe=AsoundProbe(ASOUND / "capturing_usb_headset"),
        process_names=lambda: ["bash", "audacity", "firefox"],
    )
    sensor._emit = events.append  # driven poll by poll (no thread, no sleeps)
    for _ in range(5):
        sensor.poll()
    assert events == []


def test_a_short_gap_does_not_split_the_call(tmp_path: Path) -> None:
    states = iter(
        [True, True, False, True, True, False, False, False]  # one blip, then the end
    )

    class Scripted:
        def state(self) -> MicState:
            return MicState(capturing=next(states))

    events: list[Event] = []
    sensor = CallsSensor(_ctx(tmp_path), probe=Scripted(), process_names=lambda: ["Teams.exe"])
    sensor._emit = events.append
    for _ in range(8):
        sensor.poll()
    assert [type(e) for e in events] == [CallStarted, CallEnded]


def test_unsupported_os_starts_no_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    sensor = CallsSensor(_ctx(tmp_path), probe=UnsupportedProbe("not supported on macOS yet"))
    sensor.start(lambda e: None)
    assert set(threading.enumerate()) == before
    sensor.stop()


def test_registry_factory_and_process_names(tmp_path: Path) -> None:
    assert create("calls", _ctx(tmp_path)).name == "calls"
    assert Path(sys.executable).name in running_process_names() or running_process_names()


def test_call_poll_seconds_is_checked() -> None:
    from agent.config import from_dict
    from agent.errors import ConfigError

    assert from_dict({"sensors": {"call_poll_seconds": 0.5}}).sensors.call_poll_seconds == 0.5
    with pytest.raises(ConfigError, match=r"\[sensors\].call_poll_seconds must be in"):
        from_dict({"sensors": {"call_poll_seconds": 0}})


def test_a_failing_probe_costs_a_log_line_not_the_sensor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The calls thread had no guard: one OSError from the probe ended it silently."""

    class FlakyProbe:
        def __init__(self) -> None:
            self.calls = 0

        def state(self) -> MicState:
            self.calls += 1
            if self.calls == 1:
                raise OSError("cannot read /home/anna/secret")
            return MicState(capturing=True)

    events: queue.Queue[Event] = queue.Queue()
    caplog.set_level(logging.ERROR, logger="agent.sensors.base")
    sensor = CallsSensor(_ctx(tmp_path), probe=FlakyProbe(), process_names=lambda: ["Teams.exe"])
    sensor.start(events.put)
    try:
        # The first poll fails; after the backoff (0.1 s) the next one sees the call.
        assert isinstance(events.get(timeout=10), CallStarted)
    finally:
        sensor.stop()
    failures = [r.getMessage() for r in caplog.records if "microphone poll failed" in r.message]
    assert failures and "OSError" in failures[0]
    assert "anna" not in caplog.text  # logged by exception type only
