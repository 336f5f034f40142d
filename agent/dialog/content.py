"""What the warning says: headline, two or three plain sentences, buttons, help.

Built from the verdict's structured evidence (``Evidence.code`` + ``params``,
see ``agent/correlate/evidence.py``) in the person's language, independent of how it is
drawn, so the Tk window, the console and any future native box say the same.

Why only two evidence sentences: a frightened person on the phone reads the
first lines and the buttons. The strongest reasons go first (a scam step seen
during the session, then the call or page that came before, then how the tool
was started), and one line of advice closes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.config import DialogSection
from agent.dialog.helplines import helpline_for
from agent.dialog.i18n import Texts
from agent.verdict import Evidence, Level, Verdict

MAX_EVIDENCE_SENTENCES = 2

# Strongest first. Codes not listed here (unknown to this version) come last.
_PRIORITY: tuple[str, ...] = (
    "payment_during_session",
    "banking_during_session",
    "scare_tactic",
    "call_during_session",
    "session_during_call",
    "during_call_not_in_contacts",
    "after_call_not_in_contacts",
    "during_unknown_call",
    "after_unknown_call",
    "during_unverified_call",
    "after_unverified_call",
    "after_scareware_page",
    "after_installer_download",
    "installer_after_context",
    "session_active",
    "renamed_tool",
    "runs_from",
    "remote_tool_started",
    "known_caller",
    "no_context",
)
# Sentences that already name the tool and say it was started: with one of
# these present, "X was just started" adds nothing.
_NAMES_THE_START = {
    "during_call_not_in_contacts",
    "after_call_not_in_contacts",
    "during_unknown_call",
    "after_unknown_call",
    "during_unverified_call",
    "after_unverified_call",
    "after_scareware_page",
    "after_installer_download",
}


@dataclass(frozen=True)
class WarningContent:
    """Everything the main warning shows, already in the person's language."""

    lang: str
    level: Level
    title: str
    brand: str
    headline: str
    sentences: tuple[str, ...]
    advice: str
    paused_note: str  # empty when the tool is not suspended
    stop: str
    pause: str
    trust: str


@dataclass(frozen=True)
class HelpContent:
    """The "pause and call someone" panel."""

    headline: str
    body: str
    contact: str
    helpline: str  # empty when this deployment has none
    stop: str
    resume: str


@dataclass(frozen=True)
class StoppedContent:
    """What the person sees after Stop."""

    headline: str
    body: str
    close: str


def when(texts: Texts, minutes: str) -> str:
    """Minutes (decimal text) in words: 2 -> "2 minutes", 0.4 -> "less than a minute"."""
    try:
        value = float(minutes)
    except ValueError:
        value = 0.0
    whole = round(value)
    if whole < 1:
        return texts("when-now")
    return texts.plural("when-minutes", whole)


def _after(texts: Texts, ev: Evidence, tool: str) -> str:
    msgid = "ev-" + ev.code.replace("_", "-")
    text = texts(msgid, tool=tool, when=when(texts, ev.param("minutes")))
    if ev.code == "after_installer_download" and ev.param("from_vendor") == "no":
        text += " " + texts("ev-installer-not-from-vendor")
    return text


def _installer_after_context(texts: Texts, ev: Evidence, _tool: str) -> str:
    msgid = "ev-installer-after-" + ev.param("trigger").replace("_", "-")
    msgid = msgid if texts.has(msgid) else "ev-installer-after-context"
    return texts(msgid, when=when(texts, ev.param("minutes")))


def _runs_from(texts: Texts, ev: Evidence, tool: str) -> str:
    place = ev.param("place")
    shown = texts(f"place-{place}") if texts.has(f"place-{place}") else place
    return texts("ev-runs-from", tool=tool, place=shown)


def _renamed(texts: Texts, ev: Evidence, tool: str) -> str:
    return texts("ev-renamed-tool", tool=tool, name=ev.param("name"))


def _scare_tactic(texts: Texts, ev: Evidence, tool: str) -> str:
    tactic = ev.param("tactic")
    msgid = "tactic-" + tactic.replace("_", "-")
    # A tactic added to the catalogue later is shown by its id until translated.
    shown = texts(msgid) if texts.has(msgid) else tactic
    return texts("ev-scare-tactic", tool=tool, tactic=shown)


def _payment(texts: Texts, ev: Evidence, tool: str) -> str:
    gift = ev.param("kind") == "gift_card"
    return texts("ev-gift-card-during-session" if gift else "ev-payment-during-session", tool=tool)


def _caller_in_session(texts: Texts, ev: Evidence, tool: str) -> str:
    """call_during_session / session_during_call, worded per caller kind."""
    caller = "unknown" if ev.param("caller") == "unknown" else "unverified"
    msgid = "ev-" + ev.code.replace("_", "-") + "-" + caller
    return texts(msgid, tool=tool, when=when(texts, ev.param("minutes")))


# Codes whose parameters need more than the tool name; the rest map to
# "ev-<code>" with {tool}.
_SPECIAL: dict[str, Callable[[Texts, Evidence, str], str]] = {
    "after_unknown_call": _after,
    "after_unverified_call": _after,
    "after_call_not_in_contacts": _after,
    "after_scareware_page": _after,
    "after_installer_download": _after,
    "installer_after_context": _installer_after_context,
    "runs_from": _runs_from,
    "renamed_tool": _renamed,
    "scare_tactic": _scare_tactic,
    "payment_during_session": _payment,
    "call_during_session": _caller_in_session,
    "session_during_call": _caller_in_session,
}


def evidence_sentence(texts: Texts, ev: Evidence, tool_name: str) -> str:
    """One evidence item as a sentence; unknown codes get a generic sentence."""
    tool = ev.param("tool") or tool_name
    special = _SPECIAL.get(ev.code)
    if special is not None:
        return special(texts, ev, tool)
    msgid = "ev-" + ev.code.replace("_", "-")
    if ev.code in _PRIORITY and texts.has(msgid):
        return texts(msgid, tool=tool)
    # A code newer than this dialog: the English text is exact, other
    # languages get a calm generic sentence rather than English mid-dialog.
    if texts.lang == "en" and ev.text:
        return ev.text
    return texts("ev-unknown", tool=tool)


def _rank(ev: Evidence) -> int:
    return _PRIORITY.index(ev.code) if ev.code in _PRIORITY else len(_PRIORITY) - 1


def pick_evidence(verdicts: Sequence[Verdict]) -> list[Evidence]:
    """The evidence worth showing, strongest first, without repeats."""
    seen: set[str] = set()
    items: list[Evidence] = []
    for verdict in verdicts:
        for ev in verdict.evidence:
            if ev.code not in seen:
                seen.add(ev.code)
                items.append(ev)
    if seen & _NAMES_THE_START:
        items = [e for e in items if e.code != "remote_tool_started"]
    if len(items) > 1:
        items = [e for e in items if e.code != "no_context"]
    return sorted(items, key=_rank)[:MAX_EVIDENCE_SENTENCES]


def warning_content(
    verdicts: Sequence[Verdict], texts: Texts, *, suspended: bool
) -> WarningContent:
    """The main warning for one tool (``verdicts`` merged into one dialog)."""
    level = max(v.level for v in verdicts)
    tool = verdicts[-1].tool_name
    alert = level >= Level.ALERT
    sentences = tuple(evidence_sentence(texts, ev, tool) for ev in pick_evidence(verdicts))
    return WarningContent(
        lang=texts.lang,
        level=level,
        title=texts("window-title"),
        brand=texts("brand-alert" if alert else "brand-warn"),
        headline=texts("headline-alert" if alert else "headline-warn"),
        sentences=sentences,
        advice=texts("advice-alert" if alert else "advice-warn"),
        paused_note=texts("paused-note", tool=tool) if suspended else "",
        stop=texts("button-stop"),
        pause=texts("button-pause"),
        trust=texts("button-trust"),
    )


def trust_label(texts: Texts, seconds_left: float) -> str:
    """The trust button's label: with the countdown while it is still disabled."""
    if seconds_left <= 0:
        return texts("button-trust")
    return texts("button-trust-wait", seconds=int(seconds_left + 0.999))


def help_content(section: DialogSection, texts: Texts, tool: str) -> HelpContent:
    """The panel shown after "Pause and call someone I trust"."""
    name = section.trusted_contact_name.strip()
    phone = section.trusted_contact_phone.strip()
    if name or phone:
        # Either may be configured alone; the template's ", {phone}" then goes.
        contact = texts("pause-contact", name=name or phone, phone=phone if name else "")
        contact = contact.rstrip(", ")
    else:
        contact = texts("pause-contact-none")
    line = helpline_for(section)
    helpline = ""
    if line is not None:
        helpline = texts("pause-helpline", name=line.name, phone=line.phone).rstrip(", ")
    return HelpContent(
        headline=texts("pause-headline", tool=tool),
        body=texts("pause-body"),
        contact=contact,
        helpline=helpline,
        stop=texts("button-stop"),
        resume=texts("button-resume"),
    )


def stopped_content(texts: Texts, tool: str, *, complete: bool) -> StoppedContent:
    """The confirmation after Stop (or the fallback advice when something survived)."""
    body = texts("stopped-body", tool=tool) if complete else texts("stop-failed", tool=tool)
    return StoppedContent(
        headline=texts("stopped-headline"), body=body, close=texts("button-close")
    )
