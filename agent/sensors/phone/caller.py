"""Who is calling: Android's in-call protection rule for "unknown", in one place.

Android blocks sideloading during a call with a number that is *not in the
person's contacts*; emergency numbers are exempt; the protection is
remembered for a while after the call (here: the correlator's
``call_window_minutes``). Every phone source classifies with this module and
hands on only the result: the number itself goes no further than the call
that brought it (not the queue, the journal, a log line or an error).
"""

from __future__ import annotations

from agent.events import CallerKind

# Emergency numbers, by the country in [dialog].helpline_country (the person's
# country). 112 and 911 are in every GSM phone's emergency list whatever the
# country (3GPP TS 22.101), so they are always exempt. Short national numbers
# (police, ambulance, fire) from each country's own published list; a country
# not listed here gets the union of all of them, which only ever exempts more.
_ALWAYS: frozenset[str] = frozenset({"112", "911"})
EMERGENCY_NUMBERS: dict[str, frozenset[str]] = {
    "NL": frozenset({"112"}),
    "BE": frozenset({"100", "101", "112"}),
    "DE": frozenset({"110", "112"}),
    "FR": frozenset({"15", "17", "18", "112", "114"}),
    "GB": frozenset({"999", "112"}),
    "IE": frozenset({"999", "112"}),
    "US": frozenset({"911"}),
    "CA": frozenset({"911"}),
    "AU": frozenset({"000", "112"}),
    "NZ": frozenset({"111"}),
    "JP": frozenset({"110", "119"}),
    "IN": frozenset({"100", "101", "102", "108", "112"}),
}
_ALL = frozenset().union(*EMERGENCY_NUMBERS.values())


def digits(number: str) -> str:
    """The dialable digits of a number as a phone shows it ("+31 6-1234 5678" -> "31612345678")."""
    return "".join(ch for ch in number if ch.isdigit())


def is_emergency(number: str, country: str = "") -> bool:
    """Whether ``number`` is an emergency number for the person's country."""
    dial = digits(number)
    if not dial or len(dial) > 3 or len(dial) != len(number.strip().lstrip("+")):
        return False  # a short code only counts when that is all the number is
    listed = EMERGENCY_NUMBERS.get(country.upper(), _ALL)
    return dial in _ALWAYS or dial in listed


def withheld(number: str) -> bool:
    """No number at all: withheld, or the placeholder a source puts in ("unknown number")."""
    return not digits(number)


def classify(number: str, contact_name: str, country: str = "") -> CallerKind:
    """KNOWN for a contact (or an exempt emergency number), else UNKNOWN.

    ``contact_name`` is what the source says the phone found in its contacts;
    KDE Connect copies the number into it when the phone found none, so a
    name equal to the number (or empty) means "not in the contacts".
    """
    if is_emergency(number, country):
        return CallerKind.KNOWN
    name = contact_name.strip()
    if not name or name == number.strip() or (digits(name) and digits(name) == digits(number)):
        return CallerKind.UNKNOWN
    return CallerKind.KNOWN
