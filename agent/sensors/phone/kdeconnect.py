"""KDE Connect over D-Bus: its telephony plugin's ``callReceived`` signal.

The daemon (``kdeconnectd``) owns ``org.kde.kdeconnect`` on the session bus
(on Windows and macOS a private bus of its own: ``kdeconnect_bus``). Each
paired phone is ``/modules/kdeconnect/devices/<id>``; its telephony plugin
emits ``org.kde.kdeconnect.device.telephony.callReceived(s event, s number,
s contactName)`` on ``.../<id>/telephony`` with ``event`` "callReceived"
(ringing) or "missedCall". Answered and ended are not signalled (the
plugin returns early for "talking" and for a cancel), so a ringing call's
end is left to the correlator's bound on a call nobody reported ended.
With no number the daemon puts its localised "unknown number" in both.

Why dbus-fast: asyncio-native (one loop in this source's own thread, stopped
and joined by ``stop``), pure Python with optional compiled speed-ups, typed,
actively maintained (Home Assistant's Bluetooth stack runs on it), and it
speaks unix and tcp transports, which Linux, macOS and Windows need.

One match rule with ``sender='org.kde.kdeconnect'`` and a path namespace
hears every phone, including one paired later, and keeps working when the
daemon restarts (the bus matches the well-known name on each delivery). The
bus itself going away (KDE Connect's private bus on Windows/macOS dies with
it) ends the connection: the source reconnects with a growing pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.errors import DBusError

from agent.sensors.base import FailureSink
from agent.sensors.phone import kdeconnect_bus
from agent.sensors.phone.caller import classify, withheld
from agent.sensors.phone.contacts import ContactsTracker, device_key
from agent.sensors.phone.source import (
    Contacts,
    Phase,
    PhoneCall,
    Report,
    SourceStatus,
    no_failure_sink,
    source_thread,
)

log = logging.getLogger(__name__)

NAME = "kdeconnect"
SERVICE = "org.kde.kdeconnect"
DAEMON_PATH = "/modules/kdeconnect"
DAEMON_IFACE = "org.kde.kdeconnect.daemon"
DEVICE_IFACE = "org.kde.kdeconnect.device"
DEVICES_PATH = "/modules/kdeconnect/devices"
TELEPHONY_IFACE = "org.kde.kdeconnect.device.telephony"
TELEPHONY_SIGNAL = "callReceived"
# KDE Connect exports device ids with every character outside [A-Za-z0-9_] as "_".
_TELEPHONY_PATH = re.compile(r"^/modules/kdeconnect/devices/([A-Za-z0-9_]{1,128})/telephony$")
# Bounds on what a signal may carry: anything longer is not a phone number.
MAX_FIELD = 256
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 5.0

Clock = Callable[[], float]


def match_rules() -> tuple[str, ...]:
    """The bus match rules this source adds (and the test stand-in must satisfy)."""
    return (
        f"type='signal',sender='{SERVICE}',interface='{TELEPHONY_IFACE}',"
        f"member='{TELEPHONY_SIGNAL}',path_namespace='{DEVICES_PATH}'",
        f"type='signal',sender='{SERVICE}',interface='{DAEMON_IFACE}',path='{DAEMON_PATH}'",
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        f"member='NameOwnerChanged',arg0='{SERVICE}'",
    )


def parse_call(message: Message) -> tuple[str, str, str, str] | None:
    """(device id, event, number, contact name) from a telephony signal, or None if malformed."""
    if (
        message.message_type is not MessageType.SIGNAL
        or message.interface != TELEPHONY_IFACE
        or message.member != TELEPHONY_SIGNAL
        or message.signature != "sss"
    ):
        return None
    found = _TELEPHONY_PATH.match(message.path or "")
    if found is None:
        return None
    event, number, name = message.body
    if event not in ("callReceived", "missedCall"):
        return None
    if len(number) > MAX_FIELD or len(name) > MAX_FIELD:
        return None
    return found.group(1), str(event), str(number), str(name)


class KdeConnectSource:
    """Reports each ``callReceived`` from any phone paired with KDE Connect."""

    name = NAME

    def __init__(
        self,
        clock: Clock,
        contacts: ContactsTracker,
        *,
        country: str = "",
        address: Callable[[], str | None] = kdeconnect_bus.address,
        failed: FailureSink = no_failure_sink,
    ) -> None:
        self._clock = clock
        self._failed = failed
        self._stop = threading.Event()
        self._contacts = contacts
        self._country = country
        self._address = address
        self._report: Report | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._bus: MessageBus | None = None
        self._malformed = 0
        self._tasks: set[asyncio.Future[None]] = set()
        self._phones: dict[str, str] = {}  # device id -> name (status only)
        self._connected = threading.Event()  # tests and ``status`` read it

    # -- PhoneSource ------------------------------------------------------------

    def start(self, report: Report) -> None:
        """Run the D-Bus loop in its own thread (the guarded loop: an error starts a fresh one)."""
        self._report = report
        self._stop.clear()
        self._thread = source_thread(
            NAME,
            self._run,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=RETRY_FIRST_SECONDS,
            failed=self._failed,
        )
        self._thread.start()
        self._started.wait(5.0)

    def stop(self) -> None:
        """Ask the loop to end, and join its thread."""
        self._stop.set()  # first: a loop started after this line sees it and ends at once
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            # RuntimeError: the loop closed between the check and the call.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def status(self) -> SourceStatus:
        """Connect once (2 s at most) and ask the daemon for its paired phones."""
        address = self._address()
        if address is None:
            return SourceStatus(NAME, False, "no session bus found, so no KDE Connect")
        try:
            phones = asyncio.run(asyncio.wait_for(self._probe(address), 2.0))
        except (OSError, DBusError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
            return SourceStatus(NAME, False, _not_running(exc))
        if phones is None:
            return SourceStatus(NAME, False, "KDE Connect is not running on this PC")
        if not phones:
            return SourceStatus(NAME, True, "KDE Connect runs, but no phone is paired")
        states = {self._contacts.state(device_key(d)) for d in phones}
        contacts = (
            Contacts.READABLE
            if Contacts.READABLE in states
            else Contacts.NOT_READABLE
            if Contacts.NOT_READABLE in states
            else Contacts.UNKNOWN
        )
        return SourceStatus(
            NAME, True, f"{len(phones)} phone(s) paired", tuple(phones.values()), contacts
        )

    @property
    def connected(self) -> bool:
        """Whether the source is on the bus now (with its match rules in place)."""
        return self._connected.is_set()

    # -- the loop -----------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            # Cancel whatever dbus-fast left pending, so no task outlives the thread.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        if self._stop.is_set():  # stop() came before this loop's event existed
            self._stopping.set()
        self._started.set()
        pause = RETRY_FIRST_SECONDS
        said = False
        while not self._stopping.is_set():
            address = self._address()
            bus: MessageBus | None = None
            try:
                if address is None:
                    raise FileNotFoundError("no session bus")
                bus = await asyncio.wait_for(self._connect(address), CALL_TIMEOUT_SECONDS)
            except (OSError, DBusError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
                if bus is not None:
                    bus.disconnect()
                if not said:
                    log.info("phone (KDE Connect): %s; retrying quietly", _not_running(exc))
                    said = True
                await self._pause(pause)
                pause = min(pause * 2, RETRY_MAX_SECONDS)
                continue
            pause, said = RETRY_FIRST_SECONDS, False
            log.info("phone (KDE Connect): listening on the session bus")
            self._bus = bus
            self._connected.set()
            try:
                await self._until_stop_or_gone(bus)
            finally:
                self._connected.clear()
                self._bus = None
                bus.disconnect()
            if not self._stopping.is_set():
                log.info("phone (KDE Connect): the bus went away; reconnecting")
                await self._pause(RETRY_FIRST_SECONDS)

    async def _probe(self, address: str) -> dict[str, str] | None:
        bus = MessageBus(bus_address=address, bus_type=BusType.SESSION, auth=kdeconnect_bus.auth())
        await bus.connect()
        try:
            return await _paired_phones(bus)
        finally:
            bus.disconnect()

    async def _pause(self, seconds: float) -> None:
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _connect(self, address: str) -> MessageBus:
        bus = MessageBus(bus_address=address, bus_type=BusType.SESSION, auth=kdeconnect_bus.auth())
        await bus.connect()
        try:
            bus.add_message_handler(self._on_message)
            for rule in match_rules():
                await _call(
                    bus,
                    "org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "AddMatch",
                    signature="s",
                    body=[rule],
                )
            await self._refresh(bus)
        except BaseException:
            bus.disconnect()
            raise
        return bus

    async def _until_stop_or_gone(self, bus: MessageBus) -> None:
        assert self._stopping is not None
        stop = asyncio.ensure_future(self._stopping.wait())
        gone = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
        done, pending = await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if gone in done and not gone.cancelled():
            gone.exception()  # retrieved, so asyncio does not log it; a lost bus is normal

    async def _refresh(self, bus: MessageBus) -> None:
        """KDE Connect's paired phones now (logged as a count: names stay local)."""
        phones = await _paired_phones(bus)
        before = len(self._phones)
        self._phones = phones or {}
        if len(self._phones) != before or phones is None:
            log.info(
                "phone (KDE Connect): %s",
                "the daemon is not on the bus"
                if phones is None
                else f"{len(self._phones)} paired phone(s)",
            )

    async def _refresh_quietly(self, bus: MessageBus) -> None:
        try:
            await self._refresh(bus)
        except (DBusError, OSError, TimeoutError, asyncio.TimeoutError, ValueError) as exc:
            log.info("phone (KDE Connect): could not list the phones (%s)", type(exc).__name__)

    @property
    def phones(self) -> int:
        """How many paired phones the daemon reported last."""
        return len(self._phones)

    # -- signals --------------------------------------------------------------------

    def _on_message(self, message: Message) -> bool:
        """dbus-fast's handler: return False so the library goes on as usual."""
        if message.message_type is not MessageType.SIGNAL:
            return False
        if message.interface == TELEPHONY_IFACE:
            try:
                self._on_call(message)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                # Never let dbus-fast log it: its message could quote the signal's body.
                log.warning("phone (KDE Connect): a call signal failed (%s)", type(exc).__name__)
        elif (message.interface == DAEMON_IFACE or message.member == "NameOwnerChanged") and (
            self._bus is not None
        ):
            # A phone added or removed, or the daemon (re)started: look again.
            task = asyncio.ensure_future(self._refresh_quietly(self._bus))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return False

    def _on_call(self, message: Message) -> None:
        try:
            parsed = parse_call(message)
        except (ValueError, TypeError):
            parsed = None
        if parsed is None:
            self._malformed += 1
            if self._malformed in (1, 10, 100) or self._malformed % 1000 == 0:
                log.warning(
                    "phone (KDE Connect): ignored %d malformed telephony signal(s) so far",
                    self._malformed,
                )
            return
        device_id, event, number, name = parsed
        at = self._clock()
        device = device_key(device_id)
        caller = classify(number, name, self._country)
        caller = self._contacts.judge(device, caller, has_number=not withheld(number))
        del number, name  # nothing below may carry them on
        phase = Phase.RINGING if event == "callReceived" else Phase.MISSED
        call = PhoneCall(NAME, phase, caller, at, at if phase is Phase.MISSED else None, device)
        log.info("phone (KDE Connect): %s call, caller %s", phase.value, caller.value)
        if self._report is not None:
            self._report(call)


async def _call(
    bus: MessageBus,
    dest: str,
    path: str,
    iface: str,
    member: str,
    *,
    signature: str = "",
    body: list[Any] | None = None,
) -> Message:
    reply = await asyncio.wait_for(
        bus.call(
            Message(
                destination=dest,
                path=path,
                interface=iface,
                member=member,
                signature=signature,
                body=body or [],
            )
        ),
        CALL_TIMEOUT_SECONDS,
    )
    if reply.message_type is MessageType.ERROR:
        raise DBusError(reply.error_name or "org.freedesktop.DBus.Error.Failed", "call failed")
    return reply


async def _paired_phones(bus: MessageBus) -> dict[str, str] | None:
    """Paired device id -> name, or None when KDE Connect is not on the bus."""
    has = await _call(
        bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        signature="s",
        body=[SERVICE],
    )
    if not has.body or not has.body[0]:
        return None
    reply = await _call(
        bus, SERVICE, DAEMON_PATH, DAEMON_IFACE, "devices", signature="bb", body=[False, True]
    )
    phones: dict[str, str] = {}
    for device_id in reply.body[0] if reply.body else []:
        if not isinstance(device_id, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,128}", device_id):
            continue
        path = f"{DEVICES_PATH}/{device_id}"
        try:
            got = await _call(
                bus,
                SERVICE,
                path,
                "org.freedesktop.DBus.Properties",
                "Get",
                signature="ss",
                body=[DEVICE_IFACE, "name"],
            )
            value = got.body[0] if got.body else None
            name = value.value if isinstance(value, Variant) else ""
        except DBusError:
            name = ""
        phones[device_id] = str(name)[:MAX_FIELD] or "(no name)"
    return phones


def _not_running(exc: BaseException) -> str:
    """A plain reason, naming no path or address."""
    if isinstance(exc, DBusError):
        return "KDE Connect did not answer on the bus"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "the session bus did not answer in time"
    if isinstance(exc, FileNotFoundError):
        return "no session bus found"
    return f"could not reach the session bus ({type(exc).__name__})"
