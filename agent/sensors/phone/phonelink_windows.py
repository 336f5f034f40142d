"""Windows Phone Link: call toasts polled about once a second, and its call history.

Toasts: ``Windows.UI.Notifications.Management.UserNotificationListener``
lists the toasts on screen; an unpackaged process may read them once the
person allowed notification access (``RequestAccessAsync``). The WinRT call
is the one seam (``ToastList``): the tests hand in toasts, the real one uses
the PyWinRT projections. Each toast is reported once (by its id).

History: at start, ``calling.db`` + ``contacts.db`` give the calls that
ended while the agent was not running, back as far as the call window.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from agent.errors import SensorError
from agent.sensors.base import FailureSink
from agent.sensors.phone import phonelink_history
from agent.sensors.phone.contacts import ContactsTracker, device_key
from agent.sensors.phone.phonelink_toasts import Toast, call_from_toast
from agent.sensors.phone.source import (
    Phase,
    PhoneCall,
    Report,
    SourceStatus,
    no_failure_sink,
    source_thread,
)

log = logging.getLogger(__name__)

NAME = "phonelink"
PACKAGE = "Microsoft.YourPhone_8wekyb3d8bbwe"
DEVICE = device_key("phonelink")
MAX_REMEMBERED_TOASTS = 256

ToastList = Callable[[], list[Toast]]
Clock = Callable[[], float]


def database_dirs(local_app_data: Path) -> list[Path]:
    """Phone Link's per-phone database folders under %LOCALAPPDATA%."""
    indexed = local_app_data / "Packages" / PACKAGE / "LocalCache" / "Indexed"
    try:
        return sorted(p / "System" / "Database" for p in indexed.iterdir() if p.is_dir())
    except OSError:
        return []


def winrt_toasts() -> list[Toast]:  # pragma: no cover - Windows only, the seam the tests replace
    """The toasts on screen now, through PyWinRT (needs notification access)."""
    import asyncio

    from winrt.windows.ui.notifications import KnownNotificationBindings, NotificationKinds
    from winrt.windows.ui.notifications.management import (
        UserNotificationListener,
        UserNotificationListenerAccessStatus,
    )

    async def fetch() -> list[Toast]:
        listener = UserNotificationListener.current
        if await listener.request_access_async() != UserNotificationListenerAccessStatus.ALLOWED:
            raise SensorError("Phone Link: notification access was not allowed")
        found: list[Toast] = []
        for note in await listener.get_notifications_async(NotificationKinds.TOAST):
            binding = note.notification.visual.get_binding(KnownNotificationBindings.toast_generic)
            texts = tuple(t.text for t in binding.get_text_elements()) if binding else ()
            created = note.creation_time.timestamp()
            found.append(Toast(note.id, note.app_info.app_user_model_id, texts, created))
        return found

    return asyncio.run(fetch())


class PhoneLinkSource:
    """Reports Phone Link's call toasts as they appear, and recent history at start."""

    name = NAME

    def __init__(
        self,
        clock: Clock,
        contacts: ContactsTracker,
        *,
        country: str = "",
        poll_seconds: float = 1.0,
        history_minutes: float = 30.0,
        toasts: ToastList = winrt_toasts,
        local_app_data: Path | None = None,
        failed: FailureSink = no_failure_sink,
    ) -> None:
        self._clock = clock
        self._failed = failed
        self._contacts = contacts
        self._country = country
        self._poll = poll_seconds
        self._history_seconds = history_minutes * 60.0
        self._toasts = toasts
        base = local_app_data or Path(os.environ.get("LOCALAPPDATA", "~")).expanduser()
        self._local = base
        self._seen: dict[int, None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._report: Report | None = None
        self._failed_once = False

    def start(self, report: Report) -> None:
        """Report recent history, then poll the toasts in a thread."""
        self._report = report
        self._history()
        self._thread = source_thread(
            NAME,
            self._tick,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=self._poll,
            failed=self._failed,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def status(self) -> SourceStatus:
        """Whether Phone Link has a linked phone's databases here."""
        dirs = [d for d in database_dirs(self._local) if (d / "calling.db").exists()]
        if not dirs:
            return SourceStatus(NAME, False, "Phone Link has no linked phone on this PC")
        return SourceStatus(
            NAME,
            True,
            f"Phone Link has {len(dirs)} linked phone(s)",
            contacts=self._contacts.state(DEVICE),
        )

    def _history(self) -> None:
        since = self._clock() - self._history_seconds
        for folder in database_dirs(self._local):
            calling = folder / "calling.db"
            if not calling.exists():
                continue
            contacts = folder / "contacts.db"
            try:
                calls = phonelink_history.read_calls(
                    calling,
                    contacts if contacts.exists() else None,
                    since=since,
                    country=self._country,
                )
            except SensorError as exc:
                log.warning("phone (Phone Link): %s", exc)
                continue
            for call in calls:
                self._send(
                    PhoneCall(NAME, call.phase, call.caller, call.started, call.ended, DEVICE)
                )

    def _tick(self) -> None:
        self.poll()
        self._stop.wait(self._poll)

    def poll(self) -> None:
        """Look at the toasts once (public for a driving test)."""
        try:
            toasts = self._toasts()
        except (SensorError, OSError, RuntimeError, ImportError) as exc:
            if not self._failed_once:
                self._failed_once = True
                log.warning("phone (Phone Link): cannot read the toasts (%s)", exc)
            return
        for toast in toasts:
            if toast.toast_id in self._seen:
                continue
            self._seen[toast.toast_id] = None
            if len(self._seen) > MAX_REMEMBERED_TOASTS:
                self._seen.pop(next(iter(self._seen)))
            judged = call_from_toast(toast, self._country)
            if judged is None:
                continue
            caller = self._contacts.judge(DEVICE, judged.caller, has_number=judged.has_number)
            at = min(toast.created, self._clock()) if toast.created > 0 else self._clock()
            ended = at if judged.phase is Phase.MISSED else None
            self._send(PhoneCall(NAME, judged.phase, caller, at, ended, DEVICE))

    def _send(self, call: PhoneCall) -> None:
        log.info("phone (Phone Link): %s call, caller %s", call.phase.value, call.caller.value)
        if self._report is not None:
            self._report(call)
