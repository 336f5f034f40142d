"""Phone Link's call toasts: which toast is a call, and who is calling.

Phone Link (``Microsoft.YourPhone``) shows an incoming call as a toast whose
text lines are the caller (a contact's name, or the number as digits when the
caller is not in the phone's contacts) and the kind of call in the Windows
display language ("Incoming call" / "Inkomende oproep", "Missed call" /
"Gemiste oproep"). The words are matched case-insensitively, in English and
Dutch; a toast in another language is not recognised (the log says so once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.events import CallerKind
from agent.sensors.phone.caller import classify, digits
from agent.sensors.phone.source import Phase

APP_ID_PART = "microsoft.yourphone"
_RINGING = ("incoming call", "inkomende oproep", "inkomend gesprek", "binnenkomende oproep")
_MISSED = ("missed call", "gemiste oproep", "gemist gesprek")
# What Phone Link shows instead of a number when the caller withheld it.
_WITHHELD = ("unknown", "private number", "no caller id", "onbekend", "privénummer", "anoniem")
_NUMBER_LIKE = re.compile(r"^[+0-9 ()./-]{3,}$")


@dataclass(frozen=True)
class Toast:
    """What the WinRT seam hands over for one toast in the notification list."""

    toast_id: int
    app_id: str  # the app's AppUserModelId
    texts: tuple[str, ...]  # the ToastGeneric binding's text elements, in order
    created: float  # epoch seconds


@dataclass(frozen=True)
class ToastCall:
    """A call toast, judged: no number in it."""

    phase: Phase
    caller: CallerKind
    has_number: bool


def call_from_toast(toast: Toast, country: str = "") -> ToastCall | None:
    """The call this toast announces, or None if it is not a Phone Link call toast."""
    if APP_ID_PART not in toast.app_id.lower():
        return None
    lowered = [t.strip().lower() for t in toast.texts]
    phase: Phase | None = None
    for text in lowered:
        if any(w in text for w in _MISSED):
            phase = Phase.MISSED
        elif phase is None and any(w in text for w in _RINGING):
            phase = Phase.RINGING
    if phase is None:
        return None
    words = _RINGING + _MISSED
    shown = [t.strip() for t in toast.texts if t.strip() and not any(w in t.lower() for w in words)]
    who = shown[0] if shown else ""
    if not who or who.lower() in _WITHHELD:
        return ToastCall(phase, CallerKind.UNKNOWN, has_number=False)
    if _NUMBER_LIKE.match(who) and digits(who):
        # Digits shown: the phone found no contact for them (or an emergency number).
        return ToastCall(phase, classify(who, who, country), has_number=True)
    return ToastCall(phase, CallerKind.KNOWN, has_number=True)
