"""What came before: the scam context (calls, scareware pages, installer downloads).

The correlator asks one question of it: "which context applies to something
that happened at this moment?". Kept apart from the correlator's episode
logic because the windows, the call bookkeeping and the expiry are a concept
of their own. Pure: no clock of its own, the caller passes ``now``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agent.catalogue.model import Rules
from agent.correlate import evidence as ev
from agent.events import CallEnded, CallerKind, CallStarted, InstallerDownloaded, ScarewarePage
from agent.verdict import Evidence, Trigger

# Context counts as "before" a tool if it is at most this much after it:
# independent sources (phone app, browser history, process table) differ a little.
SKEW_SECONDS = 5.0
# A call nobody reported as ended (phone app killed, battery) counts as ended
# this long after it began, so it cannot keep the PC "in a call" forever.
MAX_CALL_SECONDS = 3 * 3600.0
# Bounds on remembered context, whatever a misbehaving source sends.
MAX_CALLS = 32
MAX_PAGES = 64
MAX_INSTALLERS = 64

# When several contexts apply, the trigger is the strongest scam signal.
TRIGGER_PRIORITY = (
    Trigger.UNKNOWN_CALL,
    Trigger.SCAREWARE_PAGE,
    Trigger.UNVERIFIED_CALL,
    Trigger.INSTALLER_DOWNLOAD,
)


@dataclass
class _Call:
    start: float
    caller: CallerKind
    source: str
    end: float | None = None
    contacts_checked: bool = False

    def effective_end(self) -> float:
        return self.end if self.end is not None else self.start + MAX_CALL_SECONDS


@dataclass(frozen=True)
class Context:
    """One piece of context that applies to a moment, and the rule (rules.yaml) it fires."""

    trigger: Trigger
    at: float  # when the context began (call start, page visit, download)
    evidence: tuple[Evidence, ...]
    rule: str


@dataclass(frozen=True)
class _Installer:
    event: InstallerDownloaded
    origin: Context | None  # scam context the download itself came after


class Timeline:
    """Recent calls, scareware pages and installer downloads, bounded in size and age."""

    def __init__(self) -> None:
        self._calls: deque[_Call] = deque(maxlen=MAX_CALLS)
        self._pages: deque[ScarewarePage] = deque(maxlen=MAX_PAGES)
        self._installers: deque[_Installer] = deque(maxlen=MAX_INSTALLERS)

    def call_started(self, event: CallStarted) -> None:
        """Record a call; a new call ends any call its source left open.

        A phone has one call at a time: a lost call-ended must not leave an
        unknown call "active" while the person talks to their daughter.
        """
        for call in self._calls:
            if call.source == event.source and call.end is None:
                call.end = max(event.at, call.start)
        self._calls.append(
            _Call(event.at, event.caller, event.source, contacts_checked=event.contacts_checked)
        )

    def call_ended(self, event: CallEnded) -> None:
        """End the source's open call, else the latest open call (started elsewhere)."""
        open_calls = [c for c in reversed(self._calls) if c.end is None]
        same = [c for c in open_calls if c.source == event.source]
        for call in same or open_calls[:1]:
            call.end = max(event.at, call.start)
            return

    def page(self, event: ScarewarePage) -> None:
        self._pages.append(event)

    def installer(self, event: InstallerDownloaded, rules: Rules) -> None:
        """Record a download with the context it came after (call -> download -> start)."""
        origin = self._call_context(event.at, rules.call_window_minutes * 60.0)
        if origin is None:
            origin = self._page_context(event.at, rules.scareware_window_minutes * 60.0)
        self._installers.append(_Installer(event, origin))

    def applicable(
        self, moment: float, tool_id: str, tool_name: str, rules: Rules
    ) -> list[Context]:
        """Every context that applies to ``tool_id`` starting at ``moment``, strongest first."""
        direct = [
            self._call_context(moment, rules.call_window_minutes * 60.0),
            self._page_context(moment, rules.scareware_window_minutes * 60.0),
        ]
        out = [c for c in direct if c is not None]
        # The call -> download -> start chain matters only when the call or page
        # itself is too long ago to count directly.
        installer = self._installer_context(moment, tool_id, tool_name, rules, chain=not out)
        if installer is not None:
            out.append(installer)
        out.sort(key=lambda c: TRIGGER_PRIORITY.index(c.trigger))
        return out

    def ongoing_call(self, moment: float) -> tuple[CallerKind, float] | None:
        """The latest unknown / unverified call going on at ``moment``: (caller, its start)."""
        for call in reversed(self._calls):
            if call.caller is CallerKind.KNOWN:
                continue
            if call.start - SKEW_SECONDS <= moment <= call.effective_end():
                return call.caller, call.start
        return None

    def known_call_covers(self, moment: float, rules: Rules) -> bool:
        """A call from a contact was going on at ``moment`` or ended within the call window."""
        window = rules.call_window_minutes * 60.0
        return any(
            call.caller is CallerKind.KNOWN
            and call.start <= moment + SKEW_SECONDS
            and moment <= call.effective_end() + window
            for call in self._calls
        )

    def _call_context(self, moment: float, window: float) -> Context | None:
        """The most recent unknown / unverified call that covers ``moment``, as context."""
        for call in reversed(self._calls):
            if call.caller is CallerKind.KNOWN or call.start > moment + SKEW_SECONDS:
                continue
            if moment > call.effective_end() + window:
                continue
            unknown = call.caller is CallerKind.UNKNOWN
            trigger = Trigger.UNKNOWN_CALL if unknown else Trigger.UNVERIFIED_CALL
            kind = "unknown" if unknown else "unverified"
            checked = unknown and call.contacts_checked
            if call.end is None or moment <= call.end:
                mins = ev.minutes(moment - call.start)
                evidence = ev.during_call_not_in_contacts(mins) if checked else ev.during_call(
                    kind, mins
                )
                rule = "tool_during_unknown_call" if unknown else "tool_after_unverified_call"
            else:
                mins = ev.minutes(moment - call.end)
                evidence = ev.after_call_not_in_contacts(mins) if checked else ev.after_call(
                    kind, mins
                )
                rule = f"tool_after_{kind}_call"
            return Context(trigger, call.start, (evidence,), rule)
        return None

    def _page_context(self, moment: float, window: float) -> Context | None:
        for page in reversed(self._pages):
            if page.at - SKEW_SECONDS <= moment <= page.at + window:
                evidence = ev.after_scareware(ev.minutes(moment - page.at), page.pattern_id)
                return Context(Trigger.SCAREWARE_PAGE, page.at, (evidence,), "tool_after_scareware")
        return None

    def _installer_context(
        self, moment: float, tool_id: str, tool_name: str, rules: Rules, *, chain: bool
    ) -> Context | None:
        window = rules.installer_window_minutes * 60.0
        for inst in reversed(self._installers):
            event = inst.event
            if event.tool_id != tool_id or not (
                event.at - SKEW_SECONDS <= moment <= event.at + window
            ):
                continue
            mins = ev.minutes(moment - event.at)
            evidence = ev.after_installer(tool_name, mins, event.from_vendor)
            origin = inst.origin
            if origin is None or not chain:
                return Context(
                    Trigger.INSTALLER_DOWNLOAD,
                    event.at,
                    (evidence,),
                    "tool_after_installer_download",
                )
            # call/page -> download -> start: the chain keeps the original trigger.
            link = ev.installer_after_context(
                origin.trigger.value, ev.minutes(event.at - origin.at)
            )
            return Context(origin.trigger, origin.at, (evidence, link), "installer_after_context")
        return None

    def expire(self, now: float, rules: Rules) -> None:
        """Forget context whose window has passed, so memory stays bounded for months."""
        call_window = rules.call_window_minutes * 60.0
        while self._calls and self._calls[0].effective_end() + call_window + SKEW_SECONDS < now:
            self._calls.popleft()
        page_window = rules.scareware_window_minutes * 60.0 + SKEW_SECONDS
        while self._pages and self._pages[0].at + page_window < now:
            self._pages.popleft()
        inst_window = rules.installer_window_minutes * 60.0 + SKEW_SECONDS
        self._installers = deque(
            (i for i in self._installers if i.event.at + inst_window >= now), maxlen=MAX_INSTALLERS
        )

    def sizes(self) -> dict[str, int]:
        return {
            "calls": len(self._calls),
            "pages": len(self._pages),
            "installers": len(self._installers),
        }
