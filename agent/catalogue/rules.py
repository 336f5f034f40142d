"""The correlator's rule names and their default levels: what rules.yaml ``levels`` may set.

Here, in the catalogue, because two layers need the names: the schema checks a
rules.yaml against them, and the correlator (which applies them, see
``agent.correlate.correlator``) reads the defaults. The correlator imports the
catalogue, never the other way round.
"""

from __future__ import annotations

from agent.verdict import Level

RULES: dict[str, Level | None] = {
    # a tool starts with context (the strongest context's rule picks the trigger;
    # the loudest level among all applicable contexts wins)
    "tool_during_unknown_call": Level.WARN,
    "tool_after_unknown_call": Level.WARN,
    "tool_after_unverified_call": Level.WARN,  # during or after a call seen on the PC
    "tool_after_scareware": Level.WARN,
    "tool_after_installer_download": Level.WARN,
    "installer_after_context": Level.WARN,  # call/page -> its installer -> start
    # a tool starts without context
    "tool_without_context": Level.NOTE,
    "known_caller": None,  # only a call from a contact came before
    "low_confidence_without_context": None,
    "long_installed_without_context": None,
    # sessions and what happens inside them
    "session_after_context": Level.WARN,
    "call_during_session": Level.WARN,  # an unknown / unverified call while connected
    "scare_tactic_in_session": Level.ALERT,
    "sensitive_page_in_session": Level.ALERT,  # banking, payment, gift card
}
"""Every rule name rules.yaml ``levels`` may set, with its default level (None = nothing)."""
