"""A real session bus (Debian's dbus-daemon) with the KDE Connect stand-in, per test."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

DATA = Path(__file__).resolve().parents[3] / "data" / "phone"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("phone_session_bus", DATA / "session_bus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SB = _load()


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[object]:
    """A private session bus at ``<tmp>/bus``; under CI a missing dbus-daemon fails."""
    if SB.dbus_daemon() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs dbus-daemon (Debian package dbus) for the phone tests")
        pytest.skip("dbus-daemon is not installed")
    bus = SB.SessionBus(tmp_path)
    bus.start()
    yield bus
    bus.stop()


@pytest.fixture
def standin(session_bus: object) -> Iterator[object]:
    """The KDE Connect stand-in, owning org.kde.kdeconnect on that bus."""
    daemon = SB.StandIn(session_bus)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Every thread a phone source starts is joined by its stop()."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left behind: {leaked}"
