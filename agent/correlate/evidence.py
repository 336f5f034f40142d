"""Every evidence code the correlator uses, with its English text.

The dialog translates ``Evidence.code`` with ``Evidence.params``; ``text`` is
the English fallback for the console, the log backend and the journal. One
module owns the list so a translator can see every code in one place:

=========================== ==============================================
code                        params
=========================== ==============================================
``remote_tool_started``     tool
``renamed_tool``            tool, name (the process name it ran under)
``runs_from``               tool, place (``downloads``, ``temp``, ``desktop``)
``during_unknown_call``     minutes (since the call began)
``after_unknown_call``      minutes (since the call ended)
``during_unverified_call``  minutes (a call seen on the PC; caller unknown to us)
``after_unverified_call``   minutes
``during_call_not_in_contacts`` minutes (the phone checked: not in the person's contacts)
``after_call_not_in_contacts``  minutes (since that call ended, or was missed)
``after_scareware_page``    minutes, pattern (scam_context.yaml pattern id)
``after_installer_download`` tool, minutes, from_vendor (``yes``/``no``/``unknown``)
``installer_after_context`` trigger (``unknown_call``, ``scareware_page``, ``unverified_call``),
                            minutes (from that context to the download)
``known_caller``            (none; only when rules.yaml makes ``known_caller`` audible)
``no_context``              (none)
``session_active``          tool
``call_during_session``     tool, caller (``unknown`` / ``unverified``): the call began
                            while the session was on
``session_during_call``     tool, caller, minutes (into the call): the session began
                            during the call
``scare_tactic``            tool, tactic (scam_context.yaml tactic id)
``banking_during_session``  tool, pattern
``payment_during_session``  tool, pattern, kind (``payment`` / ``gift_card``)
=========================== ==============================================

``minutes`` is a decimal number as text with at most one decimal ("2", "0.5").
"""

from __future__ import annotations

from agent.verdict import Evidence

CODES: tuple[str, ...] = (
    "remote_tool_started",
    "renamed_tool",
    "runs_from",
    "during_unknown_call",
    "after_unknown_call",
    "during_unverified_call",
    "after_unverified_call",
    "during_call_not_in_contacts",
    "after_call_not_in_contacts",
    "after_scareware_page",
    "after_installer_download",
    "installer_after_context",
    "known_caller",
    "no_context",
    "session_active",
    "call_during_session",
    "session_during_call",
    "scare_tactic",
    "banking_during_session",
    "payment_during_session",
)


def minutes(seconds: float) -> float:
    """Seconds as minutes rounded to one decimal, never negative."""
    return round(max(seconds, 0.0) / 60.0, 1)


def _fmt(mins: float) -> str:
    return f"{mins:g}"


def tool_started(tool: str) -> Evidence:
    return Evidence("remote_tool_started", f"{tool} was started.", (("tool", tool),))


def renamed(tool: str, name: str) -> Evidence:
    return Evidence(
        "renamed_tool",
        f"The program '{name}' is really {tool}, under another name.",
        (("tool", tool), ("name", name)),
    )


def runs_from(tool: str, place: str) -> Evidence:
    return Evidence(
        "runs_from",
        f"{tool} runs from the {place} folder, as a freshly downloaded copy does.",
        (("tool", tool), ("place", place)),
    )


def during_call(kind: str, mins: float) -> Evidence:
    """``kind`` is "unknown" or "unverified"."""
    return Evidence(
        f"during_{kind}_call",
        f"It started during a call from an {kind} caller ({_fmt(mins)} min into the call).",
        (("minutes", _fmt(mins)),),
    )


def after_call(kind: str, mins: float) -> Evidence:
    return Evidence(
        f"after_{kind}_call",
        f"It started {_fmt(mins)} min after a call from an {kind} caller ended.",
        (("minutes", _fmt(mins)),),
    )


def during_call_not_in_contacts(mins: float) -> Evidence:
    """An unknown call the phone itself checked against the person's contacts."""
    return Evidence(
        "during_call_not_in_contacts",
        f"It started during a call from a number that is not in your contacts "
        f"({_fmt(mins)} min into the call).",
        (("minutes", _fmt(mins)),),
    )


def after_call_not_in_contacts(mins: float) -> Evidence:
    return Evidence(
        "after_call_not_in_contacts",
        f"It started {_fmt(mins)} min after a call from a number that is not in your contacts.",
        (("minutes", _fmt(mins)),),
    )


def after_scareware(mins: float, pattern: str) -> Evidence:
    return Evidence(
        "after_scareware_page",
        f"It started {_fmt(mins)} min after a browser page claimed "
        "the computer was infected or blocked.",
        (("minutes", _fmt(mins)), ("pattern", pattern)),
    )


def after_installer(tool: str, mins: float, from_vendor: bool | None) -> Evidence:
    text = f"Its installer was downloaded {_fmt(mins)} min before it started."
    if from_vendor is False:
        text += " The download did not come from the maker's own website."
    vendor = {True: "yes", False: "no", None: "unknown"}[from_vendor]
    return Evidence(
        "after_installer_download",
        text,
        (("tool", tool), ("minutes", _fmt(mins)), ("from_vendor", vendor)),
    )


def installer_after_context(trigger: str, mins: float) -> Evidence:
    """The download itself came after scam context (call -> download -> start chain)."""
    what = {
        "unknown_call": "a call from an unknown caller",
        "unverified_call": "a call from an unverified caller",
        "scareware_page": "a page claiming the computer was infected or blocked",
    }.get(trigger, "a scam warning sign")
    return Evidence(
        "installer_after_context",
        f"That download came {_fmt(mins)} min after {what}.",
        (("trigger", trigger), ("minutes", _fmt(mins))),
    )


def known_caller() -> Evidence:
    return Evidence("known_caller", "It started during or shortly after a call from a contact.")


def no_context() -> Evidence:
    return Evidence("no_context", "No unknown call or warning page came before it.")


def session_active(tool: str) -> Evidence:
    return Evidence(
        "session_active",
        f"Someone is connected to this computer through {tool} right now.",
        (("tool", tool),),
    )


def call_during_session(tool: str, caller: str) -> Evidence:
    """A call from an unknown / unverified caller began while someone was connected."""
    who = "an unknown caller" if caller == "unknown" else "a caller we cannot identify"
    return Evidence(
        "call_during_session",
        f"A call from {who} began while someone was connected to this computer through {tool}.",
        (("tool", tool), ("caller", caller)),
    )


def session_during_call(tool: str, caller: str, mins: float) -> Evidence:
    """Someone connected through the tool while a call from such a caller was going on."""
    who = "an unknown caller" if caller == "unknown" else "a caller we cannot identify"
    return Evidence(
        "session_during_call",
        f"Someone connected to this computer through {tool} during a call from {who} "
        f"({_fmt(mins)} min into the call).",
        (("tool", tool), ("caller", caller), ("minutes", _fmt(mins))),
    )


def scare_tactic(tool: str, tactic: str) -> Evidence:
    return Evidence(
        "scare_tactic",
        f"While someone was connected through {tool}, '{tactic}' was started: "
        "scammers use it to make a healthy computer look infected.",
        (("tool", tool), ("tactic", tactic)),
    )


def banking(tool: str, pattern: str) -> Evidence:
    return Evidence(
        "banking_during_session",
        f"Online banking was opened while someone was connected through {tool}.",
        (("tool", tool), ("pattern", pattern)),
    )


def payment(tool: str, pattern: str, kind: str) -> Evidence:
    what = "A gift-card shop" if kind == "gift_card" else "A payment page"
    return Evidence(
        "payment_during_session",
        f"{what} was opened while someone was connected through {tool}.",
        (("tool", tool), ("pattern", pattern), ("kind", kind)),
    )
