"""The KDE Connect source on a real session bus, against a stand-in for kdeconnectd.

Real: Debian's dbus-daemon, the D-Bus wire protocol, match rules, name
ownership, the source's thread and asyncio loop. Stand-in: only the daemon
(and through it the phone), which emits the same signals on the same paths
with the same signatures as KDE Connect's telephony plugin.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.events import CallerKind
from agent.sensors.phone.contacts import ContactsTracker, device_key
from agent.sensors.phone.kdeconnect import KdeConnectSource
from agent.sensors.phone.source import Contacts, Phase, PhoneCall

from .conftest import SB

NUMBER = "+31 6 55501234"


class Calls:
    def __init__(self) -> None:
        self.got: list[PhoneCall] = []
        self._lock = threading.Lock()

    def __call__(self, call: PhoneCall) -> None:
        with self._lock:
            self.got.append(call)

    def wait(self, n: int) -> list[PhoneCall]:
        SB.wait_until(lambda: len(self.got) >= n, what=f"{n} call(s)")
        return list(self.got)


def _source(bus: Any, tmp_path: Path, threshold: int = 3) -> KdeConnectSource:
    tracker = ContactsTracker(tmp_path / "state", threshold)
    return KdeConnectSource(time.time, tracker, country="NL", address=lambda: bus.address)


@pytest.fixture
def running(session_bus: Any, tmp_path: Path) -> Any:
    source = _source(session_bus, tmp_path)
    calls = Calls()
    source.start(calls)
    SB.wait_until(lambda: source.connected, what="the source on the bus")
    yield source, calls
    source.stop()


def test_unknown_known_missed_emergency_and_withheld_callers(running: Any, standin: Any) -> None:
    _, calls = running
    standin.send(op="pair", id="a1b2c3", name="Pixel 7")
    standin.send(op="ring", id="a1b2c3", number=NUMBER)  # not in contacts: name == number
    standin.send(op="ring", id="a1b2c3", number="+31 6 12345678", contact="Dochter")
    standin.send(op="missed", id="a1b2c3", number=NUMBER)
    standin.send(op="ring", id="a1b2c3", number="112")
    standin.send(op="ring", id="a1b2c3", number="")  # withheld: "unknown number" in both
    got = calls.wait(5)
    assert [(c.phase, c.caller) for c in got] == [
        (Phase.RINGING, CallerKind.UNKNOWN),
        (Phase.RINGING, CallerKind.KNOWN),
        (Phase.MISSED, CallerKind.UNKNOWN),
        (Phase.RINGING, CallerKind.KNOWN),  # emergency numbers are exempt
        (Phase.RINGING, CallerKind.UNKNOWN),
    ]
    assert {c.device for c in got} == {device_key("a1b2c3")}
    assert got[2].ended == got[2].started
    assert all("55501234" not in repr(c) and "Dochter" not in repr(c) for c in got)


def test_a_phone_paired_later_is_heard(running: Any, standin: Any) -> None:
    source, calls = running
    assert source.phones == 0
    standin.send(op="pair", id="later_phone", name="Galaxy")
    SB.wait_until(lambda: source.phones == 1, what="the new phone listed")
    standin.send(op="ring", id="later_phone", number=NUMBER)
    assert calls.wait(1)[0].device == device_key("later_phone")


def test_the_daemon_restarting_is_still_heard(running: Any, session_bus: Any) -> None:
    _, calls = running
    first = SB.StandIn(session_bus)
    first.start()
    first.send(op="pair", id="p1")
    first.send(op="ring", id="p1", number=NUMBER)
    calls.wait(1)
    first.stop()  # kdeconnectd exits: the name has no owner
    second = SB.StandIn(session_bus)
    second.start()  # a new process, a new unique name, the same well-known name
    try:
        second.send(op="pair", id="p1")
        second.send(op="ring", id="p1", number=NUMBER)
        assert len(calls.wait(2)) == 2
    finally:
        second.stop()


def test_the_bus_itself_restarting_is_reconnected(running: Any, session_bus: Any) -> None:
    # KDE Connect's private bus on Windows and macOS dies and comes back with it.
    source, calls = running
    session_bus.stop()
    SB.wait_until(lambda: not source.connected, what="the source noticing the lost bus")
    session_bus.start()
    SB.wait_until(lambda: source.connected, timeout=15, what="the source reconnected")
    daemon = SB.StandIn(session_bus)
    daemon.start()
    try:
        daemon.send(op="pair", id="p1")
        daemon.send(op="ring", id="p1", number=NUMBER)
        assert calls.wait(1)[0].caller is CallerKind.UNKNOWN
    finally:
        daemon.stop()


def test_a_phone_that_never_sends_names_makes_its_callers_unverified_said_once(
    session_bus: Any, standin: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = _source(session_bus, tmp_path, threshold=3)
    calls = Calls()
    source.start(calls)
    try:
        SB.wait_until(lambda: source.connected)
        standin.send(op="pair", id="nocontacts")
        with caplog.at_level(logging.INFO):
            for i in range(5):
                standin.send(op="ring", id="nocontacts", number=f"+31 6 5550{i:04d}")
            got = calls.wait(5)
    finally:
        source.stop()
    assert [c.caller for c in got] == [CallerKind.UNKNOWN] * 2 + [CallerKind.UNVERIFIED] * 3
    said = [r for r in caplog.records if "never sent a contact name" in r.getMessage()]
    assert len(said) == 1
    # Remembered across restarts of the agent, and shown by ``phone status``.
    again = ContactsTracker(tmp_path / "state", 3)
    assert again.state(device_key("nocontacts")) is Contacts.NOT_READABLE
    assert "5550" not in (tmp_path / "state" / "phone-contacts.json").read_text()
    assert all("5550" not in r.getMessage() for r in caplog.records)


def test_malformed_signals_are_ignored_without_repeating_them(
    running: Any, standin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, calls = running
    standin.send(op="pair", id="p1")
    with caplog.at_level(logging.INFO):
        standin.send(op="raw", id="p1", event="sms", number=NUMBER, contact=NUMBER)
        standin.send(op="raw", id="p1", event="callReceived", number="9" * 5000, contact="x")
        standin.send(op="ring", id="p1", number=NUMBER)
        got = calls.wait(1)
    time.sleep(0.2)
    assert len(calls.got) == 1 and got[0].caller is CallerKind.UNKNOWN
    assert sum("malformed" in r.getMessage() for r in caplog.records) == 1
    assert all("9999" not in r.getMessage() and "5550" not in r.getMessage()
               for r in caplog.records)


def test_status_names_the_paired_phones(session_bus: Any, standin: Any, tmp_path: Path) -> None:
    source = _source(session_bus, tmp_path)
    standin.send(op="pair", id="p1", name="Pixel 7")
    status = source.status()
    assert status.available and status.phones == ("Pixel 7",)
    assert status.contacts is Contacts.UNKNOWN


def test_status_without_the_daemon_says_so(session_bus: Any, tmp_path: Path) -> None:
    status = _source(session_bus, tmp_path).status()
    assert not status.available and "not running" in status.detail


def test_no_bus_at_all_idles_and_stops_at_once(tmp_path: Path) -> None:
    source = KdeConnectSource(time.time, ContactsTracker(tmp_path, 3), address=lambda: None)
    source.start(Calls())
    began = time.monotonic()
    source.stop()
    assert time.monotonic() - began < 2.0
    assert not source.status().available
