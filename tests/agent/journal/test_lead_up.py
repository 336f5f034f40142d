"""``incidents`` shows what came before each verdict (issue 12, item 7), not only ``--timeline``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agent.cli import main
from agent.events import CallerKind, CallStarted, PageKind, ScarewarePage, SensitivePage
from agent.journal.journal import Journal
from agent.journal.lead_up import LeadUp
from agent.verdict import Evidence, Level, Outcome, Resolution, Stage, Trigger, Verdict

T0 = 1_790_000_000.0  # the unknown call starts here


def _verdict(
    vid: str,
    level: Level,
    at: float,
    stage: Stage,
    *,
    tool: str = "anydesk",
    trigger: Trigger = Trigger.UNKNOWN_CALL,
) -> Verdict:
    minutes = None if trigger is Trigger.NONE else round((at - T0) / 60.0, 2)
    return Verdict(
        verdict_id=vid,
        at=at,
        level=level,
        tool_id=tool,
        tool_name=tool.capitalize(),
        trigger=trigger,
        stage=stage,
        minutes_from_trigger=minutes,
        evidence=(Evidence("x", f"{stage.value} evidence."),),
        pids=(10,),
    )


def _journal(state: Path) -> Journal:
    """A scam in the journal: call, scareware page, tool, session, banking; and noise around it."""
    j = Journal(state / "journal.jsonl")
    j.record_context(ScarewarePage(T0 - 7200, "old", "firefox", "An old alarm page", "http://o/"))
    lone = _verdict(
        "lone",
        Level.NOTE,
        T0 - 3600,
        Stage.REMOTE_TOOL_STARTED,
        tool="rustdesk",
        trigger=Trigger.NONE,
    )
    j.record_verdict(lone)
    j.record_resolution(Resolution(lone, Outcome.NO_WARNING_SHOWN, lone.at))
    j.record_context(CallStarted(T0, CallerKind.UNKNOWN, "phone-app"))
    j.record_context(ScarewarePage(T0 + 30, "blocked", "chrome", "Your PC is blocked", "http://x/"))
    warn = _verdict("w1", Level.WARN, T0 + 120, Stage.REMOTE_TOOL_STARTED)
    j.record_verdict(warn)
    j.record_resolution(Resolution(warn, Outcome.USER_TRUSTED, T0 + 150))
    session = _verdict("s1", Level.WARN, T0 + 200, Stage.SESSION_ACTIVE)
    j.record_verdict(session)
    j.record_context(
        SensitivePage(T0 + 300, "bank-nl", PageKind.BANKING, "chrome", "Mijn Bank", "https://b/")
    )
    alert = _verdict("a1", Level.ALERT, T0 + 302, Stage.BANKING_DURING_SESSION)
    j.record_verdict(alert)
    return j


def _block(output: str, head: str) -> list[str]:
    """The lines of the incident whose first line contains ``head``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if head in line)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_incidents_prints_the_lead_up_of_each_verdict(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _journal(state)
    result = CliRunner().invoke(main, ["incidents", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    alert = _block(result.output, "ALERT: Anydesk")
    text = "\n".join(alert)
    assert "    before it:" in alert
    assert "call started (caller: unknown) (via phone-app)" in text
    assert "scareware page [blocked] Your PC is blocked http://x/ (via chrome)" in text
    assert "WARNING: Anydesk (remote tool started, after unknown call)" in text
    assert "-> Anydesk: trusted by you" in text
    assert "WARNING: Anydesk (session active, after unknown call)" in text
    assert "banking page [bank-nl] Mijn Bank https://b/ (via chrome)" in text
    # Oldest first: the call, then the page, the tool, the session, the bank.
    order = [
        next(i for i, line in enumerate(alert) if needle in line)
        for needle in (
            "call started",
            "scareware page",
            "remote tool started,",
            "session active,",
            "banking page",
        )
    ]
    assert order == sorted(order)
    assert "An old alarm page" not in text  # two hours before the call: not this verdict's
    first = "\n".join(_block(result.output, "WARNING: Anydesk"))
    assert "call started" in first and "session active," not in first  # nothing from after it
    lone = _block(result.output, "note: Rustdesk")
    assert not any("before it" in line for line in lone)  # no trigger, no earlier stage
    assert result.output.rstrip().endswith(
        "Every call, page, download and choice in order: ratwatch-agent incidents --timeline"
    )


def test_lead_up_of_a_verdict_without_trigger_is_its_tool_chain(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    start = _verdict("t0", Level.NOTE, T0, Stage.REMOTE_TOOL_STARTED, trigger=Trigger.NONE)
    j.record_verdict(start)
    j.record_context(ScarewarePage(T0 + 60, "tss", "firefox", "Virus found", "http://v/"))
    later = _verdict("t1", Level.WARN, T0 + 90, Stage.SCARE_TACTICS, trigger=Trigger.NONE)
    j.record_verdict(later)
    got = LeadUp(list(j.records())).of(later)
    assert [r["type"] for r in got] == ["verdict", "context"]
    assert LeadUp(list(j.records())).of(start) == []


def test_a_long_lead_up_is_cut_in_the_middle_and_names_the_timeline(tmp_path: Path) -> None:
    state = tmp_path / "state"
    j = Journal(state / "journal.jsonl")
    j.record_context(CallStarted(T0, CallerKind.UNKNOWN, "phone-app"))
    for n in range(12):
        j.record_context(ScarewarePage(T0 + 10 + n, f"p{n}", "chrome", f"Alarm {n}", "http://a/"))
    j.record_verdict(_verdict("w", Level.WARN, T0 + 60, Stage.REMOTE_TOOL_STARTED))
    result = CliRunner().invoke(main, ["incidents", "--state-dir", str(state)])
    block = _block(result.output, "WARNING: Anydesk")
    lead = block[block.index("    before it:") + 1 :]
    assert len(lead) == 8
    assert "call started" in lead[0] and "Alarm 0" in lead[1]
    assert lead[2].strip() == "... 6 more (incidents --timeline)"
    assert "Alarm 11" in lead[-1]
