"""The interface every phone source implements, and what a source reports.

A source watches one program that brings the phone's calls to the PC (KDE
Connect, Phone Link, the Mac's call history) and reports ``PhoneCall``
values: already classified (``agent.sensors.phone.caller``), without the
number. It runs its own thread between ``start`` and ``stop``: the sensors'
one guarded loop (``source_thread``), so an error costs a log line and a
backoff, and a thread that dies all the same reports the phone sensor failed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agent.events import CallerKind
from agent.sensors.base import THREAD_PREFIX, FailureSink, SensorThread


class Phase(str, enum.Enum):
    """What the source saw of the call."""

    RINGING = "ringing"  # an incoming call is ringing now (its end is not reported)
    MISSED = "missed"  # it rang and was not answered
    FINISHED = "finished"  # a call from the history: start and end known


class Contacts(str, enum.Enum):
    """Whether the source can tell contacts from strangers."""

    READABLE = "readable"  # a contact name has been seen from this phone
    NOT_READABLE = "not_readable"  # never a name: the app may not read the contacts
    UNKNOWN = "unknown"  # too few calls seen to tell


@dataclass(frozen=True)
class PhoneCall:
    """One call as a source reports it: no number, no name."""

    source: str  # the source's name ("kdeconnect", "phonelink", "callhistory")
    phase: Phase
    caller: CallerKind
    started: float  # epoch seconds
    ended: float | None = None  # MISSED and FINISHED
    # A local key for the phone it came from (a hash, never the device id).
    device: str = ""


@dataclass(frozen=True)
class SourceStatus:
    """What ``ratwatch-agent phone status`` says about one source (no numbers)."""

    source: str
    available: bool  # the program is present and readable on this PC
    detail: str  # one plain sentence: why not, or what it sees
    phones: tuple[str, ...] = ()  # names of the paired phones (local display only)
    contacts: Contacts = Contacts.UNKNOWN


Report = Callable[[PhoneCall], None]


class PhoneSource(Protocol):
    """A program that brings the phone's calls to this PC."""

    name: str

    def start(self, report: Report) -> None:
        """Begin watching; call ``report`` (thread-safe) for each call."""

    def stop(self) -> None:
        """Stop watching and join every thread this source started."""

    def status(self) -> SourceStatus:
        """A look now (for ``phone status``); quick, and safe before ``start``."""


def no_failure_sink(sensor: str, kind: str) -> None:
    """Where a source's dead thread is reported when no runtime listens (a test drives it)."""


def source_thread(
    source: str,
    body: Callable[[], None],
    *,
    stopped: Callable[[], bool],
    wait: Callable[[float], object],
    period: float,
    failed: FailureSink,
) -> SensorThread:
    """A source's thread: the phone sensor's guarded loop, named ``ratwatch-sensor-phone-<name>``.

    Its failures are the phone sensor's (``failed`` is told "phone"), one thread per source.
    """
    thread = SensorThread(
        "phone",
        f"phone source {source}",
        body,
        stopped=stopped,
        wait=wait,
        period=period,
        failed=failed,
    )
    thread.name = f"{THREAD_PREFIX}sensor-phone-{source}"
    return thread
