"""The phone sensor: the person's real phone, through the programs that bring its calls to the PC.

Each source (``kdeconnect``, ``phonelink``, ``callhistory``) reports
``PhoneCall`` values; this sensor turns them into the call events the
correlator already knows, so ringing, missed and finished calls all open the
unknown-call window (``call_window_minutes``):

- ringing: ``CallStarted`` now; its end is never reported (KDE Connect and
  Phone Link say nothing when it is answered or hung up), so the call counts
  as going on until the next call from that source or the correlator's bound;
- missed: ``CallEnded`` for the ringing call, or a ``CallStarted`` +
  ``CallEnded`` pair when the ringing was not seen;
- finished (a history): ``CallStarted`` + ``CallEnded`` at their own times.

``contacts_checked`` is set: the phone looked the caller up, so the warning
can say "a number that is not in your contacts". The last call seen (kind,
time, source; never the number) is kept in ``phone-status.json`` for
``ratwatch-agent phone status``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.events import CallEnded, CallStarted
from agent.sensors.base import Emit, Sensor, SensorContext
from agent.sensors.phone.contacts import ContactsTracker
from agent.sensors.phone.source import Phase, PhoneCall, PhoneSource

log = logging.getLogger(__name__)

STATUS_FILE = "phone-status.json"

SourceFactory = Callable[[SensorContext, ContactsTracker], PhoneSource]


def _kdeconnect(ctx: SensorContext, contacts: ContactsTracker) -> PhoneSource:
    from agent.sensors.phone.kdeconnect import KdeConnectSource

    return KdeConnectSource(
        ctx.clock, contacts, country=ctx.config.dialog.helpline_country, failed=ctx.failed
    )


def _phonelink(ctx: SensorContext, contacts: ContactsTracker) -> PhoneSource:
    from agent.sensors.phone.phonelink_windows import PhoneLinkSource

    return PhoneLinkSource(
        ctx.clock,
        contacts,
        country=ctx.config.dialog.helpline_country,
        poll_seconds=ctx.config.phone.toast_poll_seconds,
        history_minutes=ctx.catalogue().rules.call_window_minutes,
        failed=ctx.failed,
    )


def _callhistory(ctx: SensorContext, contacts: ContactsTracker) -> PhoneSource:
    from agent.sensors.phone.callhistory_macos import CallHistorySource

    return CallHistorySource(
        ctx.clock,
        country=ctx.config.dialog.helpline_country,
        poll_seconds=ctx.config.phone.history_poll_seconds,
        history_minutes=ctx.catalogue().rules.call_window_minutes,
        failed=ctx.failed,
    )


SOURCES: dict[str, SourceFactory] = {
    "kdeconnect": _kdeconnect,
    "phonelink": _phonelink,
    "callhistory": _callhistory,
}
"""Every phone source by the name ``[phone].sources`` uses."""


def default_sources(platform: str = sys.platform) -> tuple[str, ...]:
    """The sources this OS can have: KDE Connect everywhere, plus the OS's own."""
    if platform == "win32":
        return ("kdeconnect", "phonelink")
    if platform == "darwin":
        return ("kdeconnect", "callhistory")
    return ("kdeconnect",)


def read_status(state_dir: Path) -> dict[str, Any]:
    """What the running agent last wrote to ``phone-status.json`` ({} if nothing)."""
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class PhoneSensor:
    """Runs the configured phone sources; emits CallStarted / CallEnded."""

    name = "phone"

    def __init__(self, ctx: SensorContext, *, sources: list[PhoneSource] | None = None) -> None:
        self._ctx = ctx
        self.contacts = ContactsTracker(ctx.state_dir, ctx.config.phone.no_contacts_after_calls)
        if sources is None:
            names = ctx.config.phone.sources or default_sources()
            sources = [SOURCES[n](ctx, self.contacts) for n in names]
        self.sources = sources
        self._emit: Emit | None = None
        self._lock = threading.Lock()
        self._ringing: set[str] = set()  # sources with a ringing call not yet ended
        self._started: list[PhoneSource] = []

    def start(self, emit: Emit) -> None:
        """Start every source; one that fails to start is logged and left out."""
        self._emit = emit
        for source in self.sources:
            try:
                source.start(self.on_call)
            except (OSError, RuntimeError, ImportError) as exc:
                log.warning("phone source %s did not start (%s)", source.name, type(exc).__name__)
                continue
            self._started.append(source)

    def stop(self) -> None:
        """Stop every source (each joins its own threads)."""
        for source in reversed(self._started):
            source.stop()
        self._started.clear()

    def on_call(self, call: PhoneCall) -> None:
        """A source's report, as call events (thread-safe: sources call it from their threads)."""
        assert self._emit is not None
        ended = call.ended if call.ended is not None else call.started
        start = CallStarted(
            at=call.started, caller=call.caller, source=call.source, contacts_checked=True
        )
        with self._lock:
            if call.phase is Phase.RINGING:
                self._ringing.add(call.source)
                events: list[CallStarted | CallEnded] = [start]
            elif call.source in self._ringing and call.phase is Phase.MISSED:
                self._ringing.discard(call.source)
                events = [CallEnded(at=ended, source=call.source)]
            else:
                events = [start, CallEnded(at=ended, source=call.source)]
            for event in events:
                self._emit(event)
            self._write_status(call)

    def _write_status(self, call: PhoneCall) -> None:
        path = self._ctx.state_dir / STATUS_FILE
        record = {
            "last_call": {
                "at": call.started,
                "caller": call.caller.value,
                "phase": call.phase.value,
                "source": call.source,
            }
        }
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(record), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not save %s: %s", STATUS_FILE, type(exc).__name__)


def create(ctx: SensorContext) -> Sensor:
    """Registry factory (see agent.sensors.SENSORS)."""
    return PhoneSensor(ctx)
