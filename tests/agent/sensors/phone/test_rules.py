"""The unknown-caller rule, emergency numbers, and finding KDE Connect's bus on each OS.

The Windows shared-memory read and launchctl cannot run here: the naming,
hashing and parsing they feed are tested; the OS call is the seam.
"""

from __future__ import annotations

import hashlib

import pytest

from agent.events import CallerKind
from agent.sensors.phone.caller import classify, is_emergency, withheld
from agent.sensors.phone.kdeconnect_bus_macos import from_address_file, from_launchd
from agent.sensors.phone.kdeconnect_bus_windows import (
    install_root_hash,
    parse_section,
    section_names,
)


@pytest.mark.parametrize(
    ("number", "name", "kind"),
    [
        ("+31 6 55501234", "+31 6 55501234", CallerKind.UNKNOWN),  # KDE Connect: name = number
        ("0655501234", "", CallerKind.UNKNOWN),
        ("+31655501234", "+31 6 5550 1234", CallerKind.UNKNOWN),  # same digits, other spacing
        ("+31655501234", "Dochter Anna", CallerKind.KNOWN),
        ("unknown number", "unknown number", CallerKind.UNKNOWN),  # withheld
        ("onbekend nummer", "onbekend nummer", CallerKind.UNKNOWN),  # withheld, Dutch desktop
        ("112", "112", CallerKind.KNOWN),  # emergency: exempt
        ("911", "911", CallerKind.KNOWN),  # in every GSM phone's list
    ],
)
def test_android_rule_for_unknown(number: str, name: str, kind: CallerKind) -> None:
    assert classify(number, name, "NL") is kind


def test_emergency_numbers_are_per_country_and_exact() -> None:
    assert is_emergency("999", "GB") and not is_emergency("999", "NL")
    assert is_emergency("110", "DE") and is_emergency("110", "")  # no country: every list
    assert not is_emergency("+31 112", "NL") and not is_emergency("1120", "NL")
    assert withheld("unknown number") and not withheld("112")


def test_windows_bus_section_is_named_from_the_install_root() -> None:
    exe = r"C:\Program Files\KDE Connect\bin\dbus-daemon.exe"
    expected = hashlib.sha1(rb"c:\program files\kde connect" + b"\\").hexdigest()
    assert install_root_hash(exe) == expected
    assert section_names([exe, exe]) == [
        f"Local\\DBusDaemonAddressInfo-{expected}",
        "DBusDaemonAddressInfo",
    ]
    assert parse_section(b"tcp:host=localhost,port=50123,family=ipv4\0garbage") == (
        "tcp:host=localhost,port=50123,family=ipv4"
    )
    assert parse_section(b"\0\0\0") is None
    assert parse_section(b"unix:path=/x\0") is None  # Windows builds listen on tcp only


def test_macos_private_bus_as_kdeconnect_publishes_it() -> None:
    assert from_launchd("/tmp/dbus-AbC123\n") == "unix:path=/tmp/dbus-AbC123"
    assert from_launchd("") is None and from_launchd("/etc/passwd") is None
    text = "\n\nunix:path=/tmp/dbus-AbC123,guid=0123456789abcdef\n"
    assert from_address_file(text) == "unix:path=/tmp/dbus-AbC123,guid=0123456789abcdef"
    assert from_address_file("") is None
