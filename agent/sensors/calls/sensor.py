"""Calls sensor: a call in progress on the PC itself (softphone, VoIP or phone-link app).

The companion-phone intake stays the primary source for phone calls (only
the phone knows whether the caller is in the contacts). This sensor adds
what the PC can see on its own: the microphone is capturing while a
softphone from the catalogue (``softphones:`` in scam_context.yaml: Phone
Link, Teams, WhatsApp, Zoom, Zoiper, ...) is the app using it (Windows
names the app) or is running (Linux gives no app name). That is a call
whose caller we cannot judge: ``CallStarted(caller=UNVERIFIED)``.

Cost: every ``[sensors].call_poll_seconds`` it reads the microphone state
(a few tiny procfs files or registry values); only while the microphone is
capturing does it look at process names. A call ends after the condition
has been false on two polls in a row, so a short mute or device switch
does not split one call in two.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import psutil

from agent.catalogue.model import Catalogue, Softphone
from agent.events import CallEnded, CallerKind, CallStarted
from agent.platform import current_os
from agent.sensors.base import Emit, Sensor, SensorContext, SensorThread
from agent.sensors.calls.mic import MicProbe, MicState, UnsupportedProbe, probe_for

log = logging.getLogger(__name__)

SOURCE = "softphone"
END_AFTER_MISSES = 2

ProcessNames = Callable[[], Iterable[str]]


def running_process_names() -> list[str]:
    """Names of the processes running now (vanished / denied ones are skipped)."""
    names: list[str] = []
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            names.append(str(name))
    return names


def _stem(name: str) -> str:
    lower = name.lower()
    return lower[:-4] if lower.endswith(".exe") else lower


def softphone_in_use(
    catalogue: Catalogue, mic: MicState, process_names: ProcessNames
) -> Softphone | None:
    """The softphone that makes this microphone use a call, or None."""
    if not mic.capturing or not catalogue.softphones:
        return None
    if mic.apps:
        # The OS named the apps using the microphone: exe names compare exactly,
        # Store packages ("Microsoft.YourPhone_8wekyb3d8bbwe") by the name inside.
        for phone in catalogue.softphones:
            stems = {_stem(n) for n in phone.process_names}
            for app in mic.apps:
                if _stem(app) in stems or any(s and s in app for s in stems if len(s) >= 4):
                    return phone
        return None
    running = {_stem(n) for n in process_names()}
    for phone in catalogue.softphones:
        if any(_stem(n) in running for n in phone.process_names):
            return phone
    return None


class CallsSensor:
    """Emits CallStarted(UNVERIFIED, "softphone") / CallEnded for calls on the PC."""

    name = "calls"

    def __init__(
        self,
        ctx: SensorContext,
        *,
        probe: MicProbe | None = None,
        process_names: ProcessNames = running_process_names,
    ) -> None:
        self._ctx = ctx
        self._probe = probe if probe is not None else probe_for(current_os())
        self._process_names = process_names
        self._interval = ctx.config.sensors.call_poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        self._in_call: Softphone | None = None
        self._misses = 0

    def start(self, emit: Emit) -> None:
        """Start polling (or, where the OS gives no microphone state, say so and idle)."""
        self._emit = emit
        if isinstance(self._probe, UnsupportedProbe):
            log.info("calls sensor: microphone state %s; relying on intake", self._probe.reason)
            return
        self._thread = SensorThread(
            self.name,
            "microphone poll",
            self._tick,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=self._interval,
            failed=self._ctx.failed,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _tick(self) -> None:
        self.poll()
        self._stop.wait(self._interval)

    def poll(self) -> None:
        """Look once; emit when a call starts or has ended. Public for a driving test."""
        state = self._probe.state()
        phone = softphone_in_use(self._ctx.catalogue(), state, self._process_names)
        assert self._emit is not None
        if phone is not None:
            self._misses = 0
            if self._in_call is None:
                self._in_call = phone
                self._emit(
                    CallStarted(at=self._ctx.clock(), caller=CallerKind.UNVERIFIED, source=SOURCE)
                )
                log.info("call on the PC started (softphone %s)", phone.softphone_id)
            return
        if self._in_call is None:
            return
        self._misses += 1
        if self._misses >= END_AFTER_MISSES:
            log.info("call on the PC ended (softphone %s)", self._in_call.softphone_id)
            self._in_call = None
            self._misses = 0
            self._emit(CallEnded(at=self._ctx.clock(), source=SOURCE))


def create(ctx: SensorContext) -> Sensor:
    """Registry factory (see agent.sensors.SENSORS)."""
    return CallsSensor(ctx)
