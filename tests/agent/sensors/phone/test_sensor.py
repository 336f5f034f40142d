"""The phone sensor: what each source's report becomes on the runtime's queue."""

from __future__ import annotations

import time
from pathlib import Path

from agent.catalogue.loader import load_catalogue
from agent.config import from_dict
from agent.events import CallEnded, CallerKind, CallStarted, Event
from agent.sensors import create
from agent.sensors.base import SensorContext
from agent.sensors.phone.sensor import PhoneSensor, default_sources, read_status
from agent.sensors.phone.source import Phase, PhoneCall

CATALOGUE = load_catalogue()


def _sensor(tmp_path: Path) -> tuple[PhoneSensor, list[Event]]:
    config = from_dict({"agent": {"state_dir": str(tmp_path)}})
    ctx = SensorContext(config, lambda: CATALOGUE, time.time, tmp_path)
    sensor = PhoneSensor(ctx, sources=[])
    got: list[Event] = []
    sensor.start(got.append)
    return sensor, got


def test_ringing_then_missed_opens_and_closes_one_call(tmp_path: Path) -> None:
    sensor, got = _sensor(tmp_path)
    sensor.on_call(PhoneCall("kdeconnect", Phase.RINGING, CallerKind.UNKNOWN, 100.0))
    sensor.on_call(PhoneCall("kdeconnect", Phase.MISSED, CallerKind.UNKNOWN, 130.0, 130.0))
    assert got == [
        CallStarted(100.0, CallerKind.UNKNOWN, "kdeconnect", contacts_checked=True),
        CallEnded(130.0, "kdeconnect"),
    ]
    assert read_status(tmp_path)["last_call"]["caller"] == "unknown"


def test_a_missed_or_finished_call_alone_is_a_start_and_an_end(tmp_path: Path) -> None:
    sensor, got = _sensor(tmp_path)
    sensor.on_call(PhoneCall("kdeconnect", Phase.MISSED, CallerKind.UNKNOWN, 50.0, 50.0))
    sensor.on_call(PhoneCall("callhistory", Phase.FINISHED, CallerKind.KNOWN, 60.0, 360.0))
    assert got == [
        CallStarted(50.0, CallerKind.UNKNOWN, "kdeconnect", contacts_checked=True),
        CallEnded(50.0, "kdeconnect"),
        CallStarted(60.0, CallerKind.KNOWN, "callhistory", contacts_checked=True),
        CallEnded(360.0, "callhistory"),
    ]
    sensor.stop()


def test_registered_and_sources_by_os(tmp_path: Path) -> None:
    config = from_dict({"agent": {"state_dir": str(tmp_path)}, "phone": {"sources": []}})
    sensor = create("phone", SensorContext(config, lambda: CATALOGUE, time.time, tmp_path))
    assert sensor.name == "phone"
    assert default_sources("linux") == ("kdeconnect",)
    assert default_sources("win32") == ("kdeconnect", "phonelink")
    assert default_sources("darwin") == ("kdeconnect", "callhistory")
    assert "phone" in config.sensors.enabled
