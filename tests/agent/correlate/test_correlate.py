"""The correlator's rules and window edges, with an injected clock (no sleeping).

The catalogue is built in the test from the ``Catalogue`` dataclasses so each
test controls the windows and levels it relies on; the shipped rules.yaml is
checked against the correlator's rule names in ``test_shipped_rules_are_known``.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest
import yaml

from agent.catalogue.model import Catalogue, PeMatch, Rules, Tool
from agent.catalogue.rules import RULES
from agent.correlate.correlator import LEVEL_NAMES, Correlator
from agent.correlate.episodes import EPISODE_GRACE_SECONDS
from agent.correlate.timeline import MAX_CALL_SECONDS, MAX_CALLS, MAX_INSTALLERS, MAX_PAGES
from agent.events import (
    CallEnded,
    CallerKind,
    CallStarted,
    Confidence,
    InstallerDownloaded,
    MatchedBy,
    PageKind,
    PathClass,
    ProcessEnded,
    ProcessStarted,
    ScarewarePage,
    SensitivePage,
    SessionEnded,
    SessionStarted,
    ToolMatch,
)
from agent.verdict import Level, Stage, Trigger, Verdict

T0 = 1_790_000_000.0  # 2026-09-21, a fixed wall-clock origin
MIN = 60.0


class Clock:
    """A hand-driven clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def _tool(tool_id: str, name: str) -> Tool:
    return Tool(
        tool_id=tool_id,
        display_name=name,
        process_names=(("windows", (f"{name}.exe",)),),
        file_patterns=(),
        pe=PeMatch(),
        signers=(),
        domains=(),
        ports=(),
    )


def _catalogue(**rules: object) -> Catalogue:
    return Catalogue(
        version=1,
        tools=(_tool("anydesk", "AnyDesk"), _tool("teamviewer", "TeamViewer")),
        scare_tactics=(),
        pages=(),
        rules=dataclasses.replace(Rules(), **rules),  # type: ignore[arg-type]
    )


class Harness:
    """A correlator on a hand clock with small event builders."""

    def __init__(self, **rules: object) -> None:
        self.clock = Clock()
        self.catalogue = _catalogue(**rules)
        ids = itertools.count(1)
        self.c = Correlator(lambda: self.catalogue, self.clock, new_id=lambda: f"v{next(ids)}")
        self.pids = itertools.count(1000)

    def tool(
        self,
        tool_id: str = "anydesk",
        *,
        pid: int | None = None,
        name: str = "AnyDesk.exe",
        confidence: Confidence = Confidence.HIGH,
        matched_by: MatchedBy = MatchedBy.PROCESS_NAME,
        incoming: bool = False,
        path_class: PathClass = PathClass.OTHER,
        by_service: bool = False,
        first_seen_days_ago: float | None = None,
        create_time: float | None = None,
    ) -> list[Verdict]:
        display = self.catalogue.tool(tool_id)
        match = ToolMatch(
            tool_id, display.display_name if display else tool_id, matched_by, confidence, incoming
        )
        return self.c.feed(
            ProcessStarted(
                at=self.clock(),
                pid=pid if pid is not None else next(self.pids),
                ppid=1,
                name=name,
                exe=f"C:\\Users\\x\\Downloads\\{name}",
                cmdline=(name,),
                create_time=self.clock() if create_time is None else create_time,
                path_class=path_class,
                tool=match,
                started_by_service=by_service,
                first_seen_days_ago=first_seen_days_ago,
            )
        )

    def tactic(self, tactic: str = "netstat") -> list[Verdict]:
        return self.c.feed(
            ProcessStarted(
                at=self.clock(),
                pid=next(self.pids),
                ppid=1,
                name=f"{tactic}.exe",
                exe="",
                cmdline=(tactic,),
                create_time=self.clock(),
                path_class=PathClass.SYSTEM,
                scare_tactic=tactic,
            )
        )

    def call(self, caller: CallerKind = CallerKind.UNKNOWN, *, at: float | None = None) -> None:
        verdicts = self.c.feed(CallStarted(self.clock() if at is None else at, caller, "intake"))
        assert verdicts == []

    def call_end(self, *, at: float | None = None, source: str = "intake") -> None:
        assert self.c.feed(CallEnded(self.clock() if at is None else at, source)) == []

    def page(self, *, at: float | None = None) -> list[Verdict]:
        return self.c.feed(
            ScarewarePage(self.clock() if at is None else at, "blocked_pc", "chrome")
        )

    def sensitive(self, kind: PageKind) -> list[Verdict]:
        return self.c.feed(SensitivePage(self.clock(), f"{kind.value}_x", kind, "chrome"))

    def session(self, tool_id: str = "anydesk", pid: int = 1000) -> list[Verdict]:
        return self.c.feed(SessionStarted(self.clock(), tool_id, pid, "connection"))


def one(verdicts: list[Verdict]) -> Verdict:
    assert len(verdicts) == 1, verdicts
    return verdicts[0]


def codes(v: Verdict) -> list[str]:
    return [e.code for e in v.evidence]


# -- start of a tool: context windows ---------------------------------------------


def test_tool_during_unknown_call_warns_with_minutes_and_pids() -> None:
    h = Harness()
    h.call()
    h.clock.advance(5 * MIN)
    v = one(h.tool(pid=4242))
    assert (v.level, v.trigger, v.stage) == (
        Level.WARN,
        Trigger.UNKNOWN_CALL,
        Stage.REMOTE_TOOL_STARTED,
    )
    assert v.minutes_from_trigger == 5.0
    assert v.pids == (4242,)
    assert (v.tool_id, v.tool_name) == ("anydesk", "AnyDesk")
    assert codes(v) == ["remote_tool_started", "during_unknown_call"]
    assert v.evidence[1].param("minutes") == "5"
    assert v.verdict_id == "v1"


@pytest.mark.parametrize(
    ("after_end", "level"),
    [(0.0, Level.WARN), (30 * MIN, Level.WARN), (30 * MIN + 1, Level.NOTE), (45 * MIN, Level.NOTE)],
)
def test_call_window_edge(after_end: float, level: Level) -> None:
    h = Harness()
    h.call()
    h.clock.advance(3 * MIN)
    h.call_end()
    h.clock.advance(after_end)
    v = one(h.tool())
    assert v.level is level
    if level is Level.WARN:
        # At the very moment the call ends the tool still started "during" it.
        when = "during" if after_end == 0 else "after"
        assert codes(v) == ["remote_tool_started", f"{when}_unknown_call"]
        assert v.minutes_from_trigger == round((3 * MIN + after_end) / MIN, 1)
    else:
        assert v.trigger is Trigger.NONE and v.minutes_from_trigger is None
        assert codes(v) == ["remote_tool_started", "no_context"]


def test_call_ended_45_minutes_ago_reported_late_gives_no_warn() -> None:
    h = Harness()
    h.call(at=h.clock() - 60 * MIN)
    h.call_end(at=h.clock() - 45 * MIN)
    assert one(h.tool()).level is Level.NOTE


def test_call_window_comes_from_rules() -> None:
    h = Harness(call_window_minutes=10.0)
    h.call()
    h.call_end()
    h.clock.advance(10 * MIN + 1)
    assert one(h.tool()).level is Level.NOTE


def test_known_caller_is_no_context() -> None:
    h = Harness()
    h.call(CallerKind.KNOWN)
    h.clock.advance(MIN)
    assert h.tool() == []  # rule known_caller: none by default


def test_known_caller_rule_can_be_made_a_note() -> None:
    h = Harness(levels=(("known_caller", "note"),))
    h.call(CallerKind.KNOWN)
    h.call_end()
    h.clock.advance(30 * MIN)
    v = one(h.tool())
    assert (v.level, v.trigger) == (Level.NOTE, Trigger.NONE)
    assert codes(v) == ["remote_tool_started", "known_caller"]
    h.clock.advance(MIN)
    assert one(h.tool("teamviewer")).evidence[-1].code == "no_context"  # window passed


def test_unverified_call_is_context_with_its_own_trigger() -> None:
    h = Harness()
    h.call(CallerKind.UNVERIFIED)
    h.clock.advance(2 * MIN)
    v = one(h.tool())
    assert (v.level, v.trigger) == (Level.WARN, Trigger.UNVERIFIED_CALL)
    assert "during_unverified_call" in codes(v)


def test_call_started_after_the_tool_is_no_context() -> None:
    h = Harness()
    assert one(h.tool()).level is Level.NOTE
    h.clock.advance(MIN)
    h.call()  # a call starting a minute after the tool does not make it a scam start
    h.clock.advance(MIN)
    assert h.tool() == []  # same episode: nothing new


def test_call_never_ended_expires_after_max_call_length() -> None:
    h = Harness()
    h.call()
    h.clock.advance(MAX_CALL_SECONDS + 30 * MIN)
    assert one(h.tool(tool_id="teamviewer")).level is Level.WARN
    h2 = Harness()
    h2.call()
    h2.clock.advance(MAX_CALL_SECONDS + 30 * MIN + 1)
    assert one(h2.tool()).level is Level.NOTE


def test_new_call_from_same_source_ends_the_open_one() -> None:
    h = Harness()
    h.call(CallerKind.UNKNOWN)
    h.clock.advance(10 * MIN)
    h.call(CallerKind.KNOWN)  # the unknown call's call-ended was lost
    h.clock.advance(31 * MIN)
    assert h.tool() == []  # only the (still running) known call covers the start


def test_call_ended_from_another_source_ends_the_open_call() -> None:
    h = Harness()
    h.call()
    h.call_end(source="cli")
    h.clock.advance(31 * MIN)
    assert one(h.tool()).level is Level.NOTE


@pytest.mark.parametrize(
    ("after", "level"), [(0.0, Level.WARN), (30 * MIN, Level.WARN), (30 * MIN + 1, Level.NOTE)]
)
def test_scareware_window_edge(after: float, level: Level) -> None:
    h = Harness()
    assert h.page() == []
    h.clock.advance(after)
    v = one(h.tool())
    assert v.level is level
    if level is Level.WARN:
        assert v.trigger is Trigger.SCAREWARE_PAGE
        assert v.evidence[1].code == "after_scareware_page"
        assert v.evidence[1].param("pattern") == "blocked_pc"


@pytest.mark.parametrize(
    ("after", "level"), [(29 * MIN, Level.WARN), (30 * MIN, Level.WARN), (30 * MIN + 1, Level.NOTE)]
)
def test_installer_window_edge(after: float, level: Level) -> None:
    h = Harness()
    h.c.feed(InstallerDownloaded(h.clock(), "anydesk", "/dl/AnyDesk.exe", "evil.example", False))
    h.clock.advance(after)
    v = one(h.tool())
    assert v.level is level
    if level is Level.WARN:
        assert v.trigger is Trigger.INSTALLER_DOWNLOAD
        e = v.evidence[1]
        assert (e.code, e.param("from_vendor"), e.param("tool")) == (
            "after_installer_download",
            "no",
            "AnyDesk",
        )


def test_call_then_installer_then_start_keeps_the_call_as_trigger() -> None:
    h = Harness()
    h.call()
    h.clock.advance(2 * MIN)
    h.call_end()
    h.clock.advance(25 * MIN)
    h.c.feed(InstallerDownloaded(h.clock(), "anydesk", "/dl/AnyDesk.exe", None, True))
    h.clock.advance(20 * MIN)  # 45 min after the call: too late on its own
    v = one(h.tool())
    assert (v.level, v.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)
    assert v.minutes_from_trigger == 47.0
    assert codes(v) == [
        "remote_tool_started",
        "after_installer_download",
        "installer_after_context",
    ]
    assert v.evidence[2].param("trigger") == "unknown_call"
    assert v.evidence[2].param("minutes") == "27"


def test_installer_with_direct_context_is_plain_evidence() -> None:
    h = Harness()
    h.page()
    h.c.feed(InstallerDownloaded(h.clock(), "anydesk", "/dl/AnyDesk.exe"))
    h.clock.advance(MIN)
    v = one(h.tool())
    assert v.trigger is Trigger.SCAREWARE_PAGE
    assert codes(v) == ["remote_tool_started", "after_scareware_page", "after_installer_download"]


def test_installer_of_another_tool_is_no_context() -> None:
    h = Harness()
    h.c.feed(InstallerDownloaded(h.clock(), "teamviewer", "/dl/TeamViewer.exe"))
    h.clock.advance(MIN)
    assert one(h.tool("anydesk")).level is Level.NOTE


def test_strongest_context_is_the_trigger_and_all_are_evidence() -> None:
    h = Harness()
    h.c.feed(InstallerDownloaded(h.clock(), "anydesk", "/dl/AnyDesk.exe"))
    h.page()
    h.clock.advance(MIN)
    h.call()
    h.clock.advance(MIN)
    v = one(h.tool())
    assert v.trigger is Trigger.UNKNOWN_CALL
    assert v.minutes_from_trigger == 1.0
    assert codes(v) == [
        "remote_tool_started",
        "during_unknown_call",
        "after_scareware_page",
        "after_installer_download",
    ]


def test_context_just_after_the_start_counts_within_skew() -> None:
    h = Harness()
    start = h.clock()
    h.clock.advance(3)  # the call signal was written 3 s after the process began
    h.call()
    v = one(h.tool(create_time=start))
    assert v.level is Level.WARN


@pytest.mark.parametrize(("page_after_start", "level"), [(5.0, Level.WARN), (5.5, Level.NOTE)])
def test_page_just_after_the_start_counts_only_within_skew(
    page_after_start: float, level: Level
) -> None:
    """The same edge for context that exists before the start is judged (no late upgrade)."""
    h = Harness()
    start = h.clock()
    h.clock.advance(page_after_start)
    h.page()
    assert one(h.tool(create_time=start)).level is level


# -- start of a tool: which tools are quiet -----------------------------------------


def test_no_context_note_says_so() -> None:
    h = Harness()
    v = one(h.tool())
    assert (v.level, v.trigger, v.stage) == (Level.NOTE, Trigger.NONE, Stage.REMOTE_TOOL_STARTED)
    assert codes(v) == ["remote_tool_started", "no_context"]


@pytest.mark.parametrize(
    ("days", "by_service", "expect"),
    [(7.5, False, None), (7.0, False, Level.NOTE), (None, True, None), (0.5, False, Level.NOTE)],
)
def test_long_installed_tool_without_context(
    days: float | None, by_service: bool, expect: Level | None
) -> None:
    h = Harness(long_installed_days=7.0)
    verdicts = h.tool(first_seen_days_ago=days, by_service=by_service)
    assert [v.level for v in verdicts] == ([expect] if expect else [])


def test_long_installed_tool_with_context_still_warns() -> None:
    h = Harness()
    h.call()
    v = one(h.tool(first_seen_days_ago=400.0))
    assert v.level is Level.WARN


def test_low_confidence_tool_needs_context() -> None:
    h = Harness()
    assert h.tool(confidence=Confidence.LOW) == []
    h2 = Harness()
    h2.page()
    assert one(h2.tool(confidence=Confidence.LOW)).level is Level.WARN


def test_renamed_and_downloaded_copy_are_evidence() -> None:
    h = Harness()
    h.call()
    v = one(
        h.tool(name="invoice.exe", matched_by=MatchedBy.PE_METADATA, path_class=PathClass.DOWNLOADS)
    )
    assert codes(v) == ["remote_tool_started", "during_unknown_call", "renamed_tool", "runs_from"]
    assert v.evidence[2].param("name") == "invoice.exe"
    assert v.evidence[3].param("place") == "downloads"


# -- de-duplication and episodes ------------------------------------------------------


def test_five_processes_of_one_tool_are_one_verdict() -> None:
    h = Harness()
    h.call()
    first = one(h.tool(pid=1))
    assert all(h.tool(pid=p) == [] for p in range(2, 6))
    assert first.pids == (1,)
    h.clock.advance(MIN)
    session = one(h.session(pid=3))
    assert session.pids == (1, 2, 3, 4, 5)


def test_launcher_exiting_before_child_is_the_same_episode() -> None:
    h = Harness()
    one(h.tool(pid=1))
    h.c.feed(ProcessEnded(h.clock(), 1, "AnyDesk.exe"))
    h.clock.advance(EPISODE_GRACE_SECONDS)
    assert h.tool(pid=2) == []


def test_tool_started_again_after_it_was_gone_is_a_new_verdict() -> None:
    h = Harness()
    h.call()
    one(h.tool(pid=1))
    h.c.feed(ProcessEnded(h.clock(), 1, "AnyDesk.exe"))
    h.clock.advance(EPISODE_GRACE_SECONDS + 1)
    v = one(h.tool(pid=2))  # "start it again" after the person stopped it
    assert v.level is Level.WARN and v.pids == (2,)


def test_ended_pids_leave_the_verdict() -> None:
    h = Harness()
    h.call()
    one(h.tool(pid=1))
    h.tool(pid=2)
    h.c.feed(ProcessEnded(h.clock(), 1, "AnyDesk.exe"))
    assert one(h.session(pid=2)).pids == (2,)


# -- sessions ---------------------------------------------------------------------------


def test_session_after_warning_is_a_new_verdict_once() -> None:
    h = Harness()
    h.call()
    h.clock.advance(MIN)
    warn = one(h.tool(pid=1000))
    h.clock.advance(2 * MIN)
    v = one(h.session())
    assert (v.level, v.stage, v.trigger) == (Level.WARN, Stage.SESSION_ACTIVE, Trigger.UNKNOWN_CALL)
    assert v.verdict_id != warn.verdict_id
    assert v.minutes_from_trigger == 1.0
    assert codes(v) == ["session_active", "session_during_call", "during_unknown_call"]
    assert h.session() == []
    h.c.feed(SessionEnded(h.clock(), "anydesk", 1000))
    assert h.session() == []  # a reconnect is not a new stage


def test_session_on_note_episode_without_context_is_silent() -> None:
    h = Harness()
    assert one(h.tool()).level is Level.NOTE
    assert h.session() == []


def test_session_with_context_on_long_installed_tool_warns() -> None:
    h = Harness()
    assert h.tool("teamviewer", pid=77, by_service=True) == []
    h.clock.advance(60 * MIN)
    h.call()
    h.clock.advance(4 * MIN)
    v = one(h.session("teamviewer", pid=77))
    assert (v.level, v.stage, v.trigger) == (Level.WARN, Stage.SESSION_ACTIVE, Trigger.UNKNOWN_CALL)
    assert codes(v) == ["during_unknown_call", "session_active", "session_during_call"]


def test_session_on_tool_never_seen_starting() -> None:
    h = Harness()
    assert h.session("teamviewer", pid=5) == []  # running before the agent, no context
    h2 = Harness()
    h2.page()
    v = one(h2.session("teamviewer", pid=5))
    assert (v.stage, v.pids) == (Stage.SESSION_ACTIVE, (5,))


def test_session_seen_before_the_process_start_with_context() -> None:
    """The session sensor may find the tool before the process sensor does."""
    h = Harness()
    h.call()
    h.clock.advance(MIN)
    v = one(h.session(pid=50))
    assert (v.level, v.stage) == (Level.WARN, Stage.SESSION_ACTIVE)
    assert h.tool(pid=50) == []  # the same start, already warned about
    assert one(h.tactic()).stage is Stage.SCARE_TACTICS


def test_session_seen_before_the_process_start_without_context() -> None:
    h = Harness()
    assert h.session(pid=50) == []
    v = one(h.tool(pid=50))  # a fresh process after all: judged as a start, in session
    assert (v.level, v.stage) == (Level.NOTE, Stage.SESSION_ACTIVE)
    assert codes(v) == ["remote_tool_started", "session_active", "no_context"]
    h.clock.advance(10)
    late = one(h.c.feed(CallStarted(h.clock() - 20, CallerKind.UNKNOWN, "phone")))
    assert (late.level, late.stage) == (Level.WARN, Stage.SESSION_ACTIVE)


def test_incoming_session_process_starts_at_session_stage() -> None:
    h = Harness()
    h.call()
    v = one(h.tool("teamviewer", incoming=True, name="TeamViewer_Desktop.exe"))
    assert (v.level, v.stage) == (Level.WARN, Stage.SESSION_ACTIVE)
    assert "session_active" in codes(v)
    alert = one(h.tactic("eventvwr"))
    assert (alert.level, alert.stage, alert.tool_id) == (
        Level.ALERT,
        Stage.SCARE_TACTICS,
        "teamviewer",
    )


def test_incoming_session_process_joining_a_warned_episode() -> None:
    h = Harness()
    h.call()
    one(h.tool("teamviewer", pid=1))
    v = one(h.tool("teamviewer", pid=2, incoming=True))
    assert v.stage is Stage.SESSION_ACTIVE
    h.c.feed(ProcessEnded(h.clock(), 2, "TeamViewer_Desktop.exe"))
    assert h.tactic() == []  # the session process is gone: no session


# -- inside a session: scare tactics, banking, payment --------------------------------


def test_scare_tactic_in_session_alerts_once() -> None:
    h = Harness()
    h.call()
    one(h.tool())
    one(h.session())
    h.clock.advance(MIN)
    v = one(h.tactic("netstat"))
    assert (v.level, v.stage, v.trigger) == (Level.ALERT, Stage.SCARE_TACTICS, Trigger.UNKNOWN_CALL)
    assert v.evidence[0].code == "scare_tactic"
    assert v.evidence[0].param("tactic") == "netstat"
    assert h.tactic("tree") == []
    assert h.tactic("eventvwr") == []


def test_scare_tactic_without_session_is_nothing() -> None:
    h = Harness()
    h.call()
    one(h.tool())
    assert h.tactic() == []
    one(h.session())
    h.c.feed(SessionEnded(h.clock(), "anydesk", 1000))
    assert h.tactic() == []


def test_scare_tactic_in_session_without_context_alerts() -> None:
    h = Harness()
    one(h.tool())  # NOTE
    h.session()
    v = one(h.tactic())
    assert (v.level, v.trigger, v.minutes_from_trigger) == (Level.ALERT, Trigger.NONE, None)


def test_banking_then_payment_escalate_and_do_not_repeat() -> None:
    h = Harness()
    h.call()
    h.tool()
    h.session()
    scare = one(h.tactic())
    bank = one(h.sensitive(PageKind.BANKING))
    assert (bank.level, bank.stage) == (Level.ALERT, Stage.BANKING_DURING_SESSION)
    assert bank.evidence[0].code == "banking_during_session"
    assert h.sensitive(PageKind.BANKING) == []
    pay = one(h.sensitive(PageKind.GIFT_CARD))
    assert (pay.level, pay.stage) == (Level.ALERT, Stage.PAYMENT_DURING_SESSION)
    assert pay.evidence[0].param("kind") == "gift_card"
    assert h.sensitive(PageKind.PAYMENT) == []
    assert h.sensitive(PageKind.BANKING) == []  # not an escalation any more
    assert h.tactic() == []
    assert len({scare.verdict_id, bank.verdict_id, pay.verdict_id}) == 3


def test_payment_first_then_scare_tactic_is_not_an_escalation() -> None:
    h = Harness()
    h.tool()
    h.session()
    assert one(h.sensitive(PageKind.PAYMENT)).stage is Stage.PAYMENT_DURING_SESSION
    assert h.tactic() == []


def test_banking_without_session_is_quiet() -> None:
    h = Harness()
    h.call()
    h.tool()
    assert h.sensitive(PageKind.BANKING) == []
    assert h.sensitive(PageKind.PAYMENT) == []


def test_most_recent_session_gets_the_alert() -> None:
    h = Harness()
    h.tool("teamviewer", pid=1)
    h.tool("anydesk", pid=2)
    h.session("anydesk", pid=2)
    h.session("teamviewer", pid=1)
    assert one(h.tactic()).tool_id == "teamviewer"
    h.c.feed(SessionEnded(h.clock(), "teamviewer", 1))
    assert one(h.sensitive(PageKind.BANKING)).tool_id == "anydesk"


# -- trust -----------------------------------------------------------------------------------


def test_trusted_tool_is_quiet_until_trust_expires() -> None:
    h = Harness()
    h.c.trust("anydesk", h.clock() + 8 * 3600)
    assert h.c.trusted_until("anydesk") == h.clock() + 8 * 3600
    h.call()
    assert h.tool() == []
    assert h.session() == []
    assert h.tactic() == []
    assert h.sensitive(PageKind.PAYMENT) == []
    assert one(h.tool("teamviewer")).level is Level.WARN  # trust is per tool
    h.clock.advance(8 * 3600)
    assert h.c.trusted_until("anydesk") is None
    v = one(h.tactic())  # same session, trust lapsed
    assert v.stage is Stage.SCARE_TACTICS


def test_trust_after_a_warning_silences_the_rest_of_the_episode() -> None:
    h = Harness()
    h.call()
    one(h.tool())
    h.c.trust("anydesk", h.clock() + 3600)
    assert h.session() == []
    assert h.tactic() == []


def test_trust_never_shortens() -> None:
    h = Harness()
    h.c.trust("anydesk", h.clock() + 100)
    h.c.trust("anydesk", h.clock() + 10)
    h.clock.advance(50)
    assert h.tool() == []


# -- late context ----------------------------------------------------------------------------


def test_call_reported_late_upgrades_running_tool_once() -> None:
    h = Harness()
    call_at = h.clock()
    h.clock.advance(2 * MIN)
    assert one(h.tool()).level is Level.NOTE
    h.clock.advance(10)
    v = one(h.c.feed(CallStarted(call_at, CallerKind.UNKNOWN, "phone")))
    assert (v.level, v.trigger, v.stage) == (
        Level.WARN,
        Trigger.UNKNOWN_CALL,
        Stage.REMOTE_TOOL_STARTED,
    )
    assert v.minutes_from_trigger == 2.0
    assert h.c.feed(ScarewarePage(call_at, "blocked_pc", "chrome")) == []


def test_late_context_for_low_confidence_tool() -> None:
    h = Harness()
    assert h.tool(confidence=Confidence.LOW) == []
    assert one(h.page(at=h.clock() - MIN)).level is Level.WARN


def test_late_installer_only_upgrades_its_own_tool() -> None:
    h = Harness()
    dl_at = h.clock()
    h.clock.advance(MIN)
    h.tool("teamviewer")
    assert h.c.feed(InstallerDownloaded(dl_at, "anydesk", "/dl/a.exe")) == []
    v = one(h.c.feed(InstallerDownloaded(dl_at, "teamviewer", "/dl/t.exe")))
    assert v.trigger is Trigger.INSTALLER_DOWNLOAD


def test_late_context_leaves_long_installed_and_earlier_tools_alone() -> None:
    h = Harness()
    h.tool("teamviewer", by_service=True)
    h.tool("anydesk")
    h.clock.advance(MIN)
    assert h.page(at=h.clock() - 30) == []  # the page came after both started
    assert h.c.feed(CallStarted(h.clock(), CallerKind.KNOWN, "phone")) == []


# -- levels from rules.yaml ------------------------------------------------------------------


def test_rule_levels_can_be_changed_or_turned_off() -> None:
    h = Harness(levels=(("tool_without_context", "none"), ("tool_during_unknown_call", "alert")))
    assert h.tool("anydesk") == []
    h.clock.advance(MIN)
    h.call()
    assert one(h.tool("teamviewer")).level is Level.ALERT


def test_unknown_level_name_falls_back_to_default() -> None:
    h = Harness(levels=(("tool_without_context", "loud"),))
    assert one(h.tool()).level is Level.NOTE


def test_loudest_applicable_context_sets_the_level() -> None:
    h = Harness(levels=(("tool_after_scareware", "alert"),))
    h.page()
    h.call()
    v = one(h.tool())
    assert (v.level, v.trigger) == (Level.ALERT, Trigger.UNKNOWN_CALL)


def test_all_context_rules_off_means_nothing() -> None:
    h = Harness(levels=(("tool_after_scareware", "none"),))
    h.page()
    assert h.tool() == []


@pytest.mark.parametrize(
    ("rule", "kwargs"),
    [
        ("long_installed_without_context", {"by_service": True}),
        ("low_confidence_without_context", {"confidence": Confidence.LOW}),
    ],
)
def test_quiet_rules_can_be_made_audible(rule: str, kwargs: dict[str, object]) -> None:
    h = Harness(levels=((rule, "note"),))
    v = one(h.tool(**kwargs))  # type: ignore[arg-type]
    assert v.level is Level.NOTE


def test_sensitive_page_rule_level() -> None:
    h = Harness(levels=(("sensitive_page_in_session", "warn"),))
    h.tool()
    h.session()
    assert one(h.sensitive(PageKind.BANKING)).level is Level.WARN


def test_shipped_rules_use_known_rule_and_level_names(repo: Path) -> None:
    """rules.yaml is the agreement with the signatures work: every name must mean something."""
    data = yaml.safe_load((repo / "signatures" / "rules.yaml").read_text())
    levels = data["rules"].get("levels", {})
    assert set(levels) <= set(RULES), set(levels) - set(RULES)
    assert {str(v).lower() for v in levels.values()} <= set(LEVEL_NAMES)
    for name, level in levels.items():
        assert LEVEL_NAMES[str(level).lower()] == RULES[name], name  # defaults agree


# -- bounded memory --------------------------------------------------------------------------


def test_memory_stays_bounded_and_expires() -> None:
    h = Harness()
    for i in range(5000):
        h.c.feed(CallStarted(h.clock(), CallerKind.UNKNOWN, f"src{i % 7}"))
        h.page()
        h.c.feed(InstallerDownloaded(h.clock(), "anydesk", f"/dl/{i}.exe"))
        h.clock.advance(0.5)
    mem = h.c.memory()
    assert mem["calls"] <= MAX_CALLS and mem["pages"] <= MAX_PAGES
    assert mem["installers"] <= MAX_INSTALLERS
    for i in range(200):
        h.tool(pid=10_000 + i)
        h.c.feed(ProcessEnded(h.clock(), 10_000 + i, "AnyDesk.exe"))
    h.c.trust("teamviewer", h.clock() + 60)
    h.clock.advance(MAX_CALL_SECONDS + 31 * MIN)
    assert h.c.tick() == []
    assert h.c.memory() == {"calls": 0, "pages": 0, "installers": 0, "episodes": 0, "trusted": 0}


# -- review additions ------------------------------------------------------------------------


def test_late_call_upgrades_a_long_installed_tool_like_a_timely_one() -> None:
    """The same timeline gives the same verdict whatever order its events arrive in."""
    timely = Harness()
    timely.call(at=timely.clock() - 2 * MIN)
    assert one(timely.tool(first_seen_days_ago=400.0)).level is Level.WARN
    late = Harness()
    call_at = late.clock() - 2 * MIN
    assert late.tool(first_seen_days_ago=400.0) == []
    late.clock.advance(5)
    v = one(late.c.feed(CallStarted(call_at, CallerKind.UNKNOWN, "phone")))
    assert (v.level, v.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)


def test_late_context_leaves_a_tool_running_before_the_agent_alone() -> None:
    h = Harness()
    h.session()  # only the session sensor saw it: it ran before the agent started
    assert h.page(at=h.clock() - MIN) == []


def test_low_confidence_session_without_context_does_not_alert() -> None:
    h = Harness()
    assert h.tool(confidence=Confidence.LOW) == []
    assert h.session() == []
    assert h.tactic() == []
    assert h.sensitive(PageKind.BANKING) == []
    h.clock.advance(MIN)
    h.page()  # now there is scam context: the next demonstration alerts
    v = one(h.tactic("tree"))
    assert (v.level, v.stage) == (Level.ALERT, Stage.SCARE_TACTICS)


def test_low_confidence_catalogue_tool_seen_only_in_session_needs_context() -> None:
    h = Harness()
    low = dataclasses.replace(h.catalogue.tools[0], confidence=Confidence.LOW)
    h.catalogue = dataclasses.replace(h.catalogue, tools=(low, h.catalogue.tools[1]))
    assert h.session("anydesk") == []
    assert h.tactic() == []
    # A bundled tool's exact (process-pattern) session still alerts on its own.
    assert h.c.feed(SessionStarted(h.clock(), "teamviewer", 2000, "process_pattern")) == []
    assert one(h.tactic()).tool_id == "teamviewer"


def test_low_confidence_tool_warned_with_context_alerts_in_session() -> None:
    h = Harness()
    h.call()
    assert one(h.tool(confidence=Confidence.LOW)).level is Level.WARN
    h.call_end()
    h.clock.advance(2 * 3600)  # the call context is long gone; the episode was warned
    one(h.session())
    assert one(h.tactic()).level is Level.ALERT


def test_shipped_rules_name_every_rule(repo: Path) -> None:
    """rules.yaml is where a deployer looks up what can be tuned: it lists every rule."""
    data = yaml.safe_load((repo / "signatures" / "rules.yaml").read_text())
    assert set(data["rules"]["levels"]) == set(RULES)


@pytest.mark.parametrize(
    "installed",
    [{"by_service": True}, {"first_seen_days_ago": 400.0}, None],  # None: ran before the agent
)
def test_idle_connection_of_an_installed_tool_is_no_reason_to_alert(
    installed: dict[str, object] | None,
) -> None:
    """TeamViewer / AnyDesk keep a relay connection all day: that alone alerts nobody."""
    h = Harness()
    if installed is not None:
        assert h.tool("teamviewer", pid=7, **installed) == []  # type: ignore[arg-type]
    assert h.session("teamviewer", pid=7) == []  # "connection" evidence
    assert h.tactic("taskmgr") == []
    assert h.sensitive(PageKind.BANKING) == []
    # Someone really connects: the incoming-session process shows it exactly.
    h.c.feed(SessionStarted(h.clock(), "teamviewer", 8, "process_pattern"))
    v = one(h.tactic("netstat"))
    assert (v.level, v.stage, v.tool_id) == (Level.ALERT, Stage.SCARE_TACTICS, "teamviewer")


def test_installed_tool_in_a_connection_session_alerts_with_context() -> None:
    h = Harness()
    assert h.tool("teamviewer", pid=7, by_service=True) == []
    assert h.session("teamviewer", pid=7) == []
    h.clock.advance(60 * MIN)
    assert h.tactic() == []
    h.call()
    h.clock.advance(MIN)
    assert one(h.tactic()).level is Level.ALERT


def test_incoming_session_process_of_an_installed_tool_is_exact() -> None:
    h = Harness()
    assert h.tool("teamviewer", pid=7, by_service=True) == []
    assert h.tool("teamviewer", pid=8, incoming=True, name="TeamViewer_Desktop.exe") == []
    assert one(h.tactic()).level is Level.ALERT


@pytest.mark.parametrize("while_running", [True, False])
def test_a_tool_that_runs_only_for_a_session_is_in_session_from_its_start(
    while_running: bool,
) -> None:
    """Quick Assist (``session_while_running``): no scan needs to confirm the session."""
    h = Harness()
    quick = dataclasses.replace(
        _tool("quick_assist", "Quick Assist"), session_while_running=while_running
    )
    h.catalogue = dataclasses.replace(h.catalogue, tools=(*h.catalogue.tools, quick))
    h.call()
    h.clock.advance(MIN)
    warn = one(h.tool("quick_assist", name="quickassist.exe"))
    assert warn.level is Level.WARN
    h.clock.advance(5)
    alerts = h.tactic("netstat")
    if while_running:
        assert warn.stage is Stage.SESSION_ACTIVE and "session_active" in codes(warn)
        assert one(alerts).level is Level.ALERT
    else:
        assert warn.stage is Stage.REMOTE_TOOL_STARTED and "session_active" not in codes(warn)
        assert alerts == []


def test_a_process_running_session_counts_as_exact() -> None:
    """A long-installed tool's "connection" session alerts only with context; this one is exact."""
    h = Harness(long_installed_days=7.0)
    h.tool(first_seen_days_ago=400.0, pid=1000)
    h.c.feed(SessionStarted(h.clock(), "anydesk", 1000, "process_running"))
    h.clock.advance(5)
    assert one(h.tactic("netstat")).level is Level.ALERT


def test_a_call_the_phone_checked_says_not_in_your_contacts() -> None:
    # The phone sensor looked the caller up: during the call, and after it ended.
    h = Harness()
    h.c.feed(CallStarted(h.clock(), CallerKind.UNKNOWN, "kdeconnect", contacts_checked=True))
    h.clock.advance(3 * MIN)
    v = one(h.tool(pid=1))
    assert (v.level, v.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)
    assert codes(v) == ["remote_tool_started", "during_call_not_in_contacts"]
    assert v.evidence[1].param("minutes") == "3"
    h2 = Harness()
    h2.c.feed(CallStarted(h2.clock(), CallerKind.UNKNOWN, "kdeconnect", contacts_checked=True))
    h2.call_end(source="kdeconnect")  # a missed call: it rang, and ended
    h2.clock.advance(20 * MIN)
    v2 = one(h2.tool(pid=2))
    assert (v2.level, v2.trigger) == (Level.WARN, Trigger.UNKNOWN_CALL)
    assert codes(v2) == ["remote_tool_started", "after_call_not_in_contacts"]
    assert v2.evidence[1].param("minutes") == "20"


# -- a call while a session is active (the "refund call") ------------------------------


def _call(h: Harness, caller: CallerKind = CallerKind.UNKNOWN) -> list[Verdict]:
    return h.c.feed(CallStarted(h.clock(), caller, "intake"))


def test_unknown_call_during_an_active_session_warns_then_a_scare_tactic_alerts() -> None:
    h = Harness()
    assert one(h.tool()).level is Level.NOTE
    h.clock.advance(20 * MIN)
    assert h.session() == []  # no context yet: silent
    h.clock.advance(5 * MIN)
    v = one(_call(h))
    assert (v.level, v.stage, v.trigger) == (Level.WARN, Stage.SESSION_ACTIVE, Trigger.UNKNOWN_CALL)
    assert codes(v) == ["call_during_session", "session_active"]
    assert v.minutes_from_trigger == 0.0  # the tool came first: never negative
    h.clock.advance(MIN)
    alert = one(h.tactic("netstat"))
    assert (alert.level, alert.stage) == (Level.ALERT, Stage.SCARE_TACTICS)
    assert one(h.sensitive(PageKind.BANKING)).stage is Stage.BANKING_DURING_SESSION


def test_unverified_call_during_a_session_warns_with_its_own_trigger() -> None:
    h = Harness()
    one(h.tool())
    h.clock.advance(20 * MIN)
    h.session()
    v = one(_call(h, CallerKind.UNVERIFIED))
    assert (v.level, v.trigger) == (Level.WARN, Trigger.UNVERIFIED_CALL)
    assert v.evidence[0].param("caller") == "unverified"


def test_calls_that_add_nothing_during_a_session() -> None:
    h = Harness()
    one(h.tool())
    h.clock.advance(20 * MIN)
    h.session()
    assert _call(h, CallerKind.KNOWN) == []  # a contact calling
    h2 = Harness()
    h2.call()
    one(h2.tool())
    one(h2.session())  # already warned about this session
    h2.clock.advance(20 * MIN)
    assert _call(h2) == []
    h3 = Harness()
    one(h3.tool())
    h3.clock.advance(20 * MIN)
    assert _call(h3) == []  # no session: nothing is connected


def test_a_long_installed_tools_idle_connection_is_no_session_for_a_call() -> None:
    """TeamViewer's relay connection all day must not turn every unknown call into a warning."""
    h = Harness()
    assert h.tool("teamviewer", pid=77, by_service=True) == []
    h.clock.advance(60 * MIN)
    assert h.session("teamviewer", pid=77) == []
    h.clock.advance(10 * MIN)
    assert _call(h) == []
    # ... but an exact incoming-session process of it is someone connected.
    h2 = Harness()
    assert h2.tool("teamviewer", pid=77, by_service=True) == []
    h2.clock.advance(60 * MIN)
    assert h2.c.feed(SessionStarted(h2.clock(), "teamviewer", 78, "process_pattern")) == []
    h2.clock.advance(MIN)
    assert one(_call(h2)).stage is Stage.SESSION_ACTIVE


def test_trusted_session_and_rule_off_give_nothing_on_a_call() -> None:
    h = Harness()
    one(h.tool())
    h.clock.advance(20 * MIN)
    h.session()
    h.c.trust("anydesk", h.clock() + 3600)
    assert _call(h) == []
    h2 = Harness(levels=(("call_during_session", "none"),))
    one(h2.tool())
    h2.clock.advance(20 * MIN)
    h2.session()
    assert _call(h2) == []


def test_a_session_that_starts_during_an_unknown_call_says_so() -> None:
    h = Harness()
    one(h.tool())
    h.clock.advance(60 * MIN)  # the start is long before the call
    h.call()
    h.clock.advance(3 * MIN)
    v = one(h.session())
    assert (v.level, v.stage) == (Level.WARN, Stage.SESSION_ACTIVE)
    during = next(e for e in v.evidence if e.code == "session_during_call")
    assert (during.param("caller"), during.param("minutes")) == ("unknown", "3")
