"""The correlator: decides from the timeline whether a remote tool is part of a scam.

Pure by design (no threads, no I/O, an injected clock) so every rule and every
window edge is unit-testable without sleeping. The runtime feeds it events
from one thread and calls ``tick`` now and then to expire old state.

Rules: what each rule of ``signatures/rules.yaml`` ``levels`` means, and each
level, is the table in ``signatures/README.md``; the defaults are ``RULES``.
The windows of the tool-start rules are applied in ``agent.correlate.timeline``.
What follows is how the rules are decided where the table is not enough.

``session_after_context``, stage SESSION_ACTIVE
    A session becomes active (``SessionStarted``, or a tool process whose command
    line is the incoming-session shape). Decision: if the episode was already
    warned about, this is a stage escalation and gives a NEW verdict: someone is
    now on the PC, which deserves a second look (the person may have let the
    first warning time out). If not warned about (a long-installed TeamViewer
    used during a scam call) it gives a verdict only with context at the moment
    the session starts. A session on a NOTE-only episode with no context is silent.
``call_during_session``, stage SESSION_ACTIVE
    An unknown or unverified call begins while a session is active (the
    "refund call" to a PC that already has the scammer's tool connected). A
    session that begins during such a call is ``session_after_context`` with
    its own sentence (``session_during_call``). Once warned, scare tactics and
    banking in the session are ALERTs as below.
``scare_tactic_in_session``, stage SCARE_TACTICS
``sensitive_page_in_session``, stage BANKING_DURING_SESSION for online
    banking, PAYMENT_DURING_SESSION for a payment or gift-card page (highest).
    While a session is active on a tool (the most recent one if several). No
    call/page context needed: most scam calls reach a landline the agent never
    hears about, and a scare demonstration during a session is evidence itself.
    Except, without a warned episode or context at that moment, on a
    low-confidence tool (e.g. a LOLRMM import), whose match alone is not
    trusted, and on a long-installed tool (or one running before the agent)
    whose session is only a connection on its ports: that may be its idle
    relay connection (see ``agent.sensors.sessions``); an incoming-session
    process pattern is exact and counts.

Episodes and de-duplication: see ``agent.correlate.episodes``.

Late context: intake may arrive after the tool was seen (a phone app a few
seconds late, or ``--at`` in the past). Context that belongs before a running
episode's start upgrades that episode to a WARN (with the same stage) once,
long-installed or not (as if it had come in time); an episode known only from
a session (the tool ran before the agent) has no start to judge and is left alone.

Trust: ``trust(tool_id, until)`` silences every rule for that tool until the
injected clock passes ``until``; the episode is still tracked, so a scare
tactic after the trust lapsed still alerts.

Times: the timeline uses the events' own times (a process's ``create_time``,
the intake's ``at``); expiry and trust use the injected clock.
``minutes_from_trigger`` is from the trigger's start (call start, page visit,
download) to the tool's start. Evidence codes: see ``agent.correlate.evidence``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from agent.catalogue.model import Catalogue, Rules
from agent.catalogue.rules import RULES
from agent.correlate import evidence as ev
from agent.correlate.episodes import EPISODE_GRACE_SECONDS, Draft, Episode, escalates
from agent.correlate.timeline import MAX_CALL_SECONDS, SKEW_SECONDS, Context, Timeline
from agent.events import (
    CallEnded,
    CallerKind,
    CallStarted,
    Confidence,
    Event,
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
from agent.verdict import Evidence, Level, Stage, Trigger, Verdict

Clock = Callable[[], float]

LEVEL_NAMES: dict[str, Level | None] = {
    "none": None,
    "note": Level.NOTE,
    "warn": Level.WARN,
    "alert": Level.ALERT,
}
"""What each rules.yaml level (checked in agent.catalogue.schema) means; ``none`` disables it."""

_RUNS_FROM = {PathClass.DOWNLOADS, PathClass.TEMP, PathClass.DESKTOP}


class Correlator:
    """Turns a stream of events into verdicts; see the module docstring for the rules."""

    def __init__(
        self,
        catalogue: Callable[[], Catalogue],
        clock: Clock,
        *,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._catalogue = catalogue
        self._clock = clock
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self._timeline = Timeline()
        self._episodes: dict[str, Episode] = {}
        self._trusted: dict[str, float] = {}
        self._session_order: list[str] = []  # tool ids, most recent session last

    # -- public interface ---------------------------------------------------

    def feed(self, event: Event) -> list[Verdict]:
        """Take one event; return the verdicts it causes (usually none)."""
        self._expire(self._clock())
        verdicts: list[Verdict] = []
        match event:
            case ProcessStarted():
                verdicts = self._process_started(event)
            case ProcessEnded():
                self._process_ended(event)
            case SessionStarted():
                verdicts = self._session_started(
                    event.tool_id,
                    event.pid,
                    event.at,
                    None,
                    exact=event.via in ("process_pattern", "process_running"),
                )
            case SessionEnded():
                self._session_ended(event)
            case CallStarted():
                verdicts = self._call_started(event)
            case CallEnded():
                self._timeline.call_ended(event)
            case ScarewarePage():
                verdicts = self._scareware(event)
            case SensitivePage():
                verdicts = self._sensitive_page(event)
            case InstallerDownloaded():
                verdicts = self._installer(event)
        return verdicts

    def tick(self) -> list[Verdict]:
        """Expire old context, ended episodes and lapsed trust; no rule fires on time alone."""
        self._expire(self._clock())
        return []

    def trust(self, tool_id: str, until: float) -> None:
        """Keep ``tool_id`` quiet until the clock reaches ``until`` ("I know this person")."""
        self._trusted[tool_id] = max(until, self._trusted.get(tool_id, 0.0))

    def trusts(self) -> dict[str, float]:
        """Every trust still in force: tool id -> when it lapses (what the runtime persists)."""
        now = self._clock()
        return {tool_id: until for tool_id, until in self._trusted.items() if until > now}

    def trusted_until(self, tool_id: str) -> float | None:
        """When the trust in ``tool_id`` lapses, or None if it is not trusted now."""
        until = self._trusted.get(tool_id)
        return until if until is not None and until > self._clock() else None

    def memory(self) -> dict[str, int]:
        """How much state is held (diagnostics; tests prove it stays bounded)."""
        return {
            **self._timeline.sizes(),
            "episodes": len(self._episodes),
            "trusted": len(self._trusted),
        }

    # -- helpers --------------------------------------------------------------

    @property
    def _rules(self) -> Rules:
        return self._catalogue().rules

    def _level(self, rule: str) -> Level | None:
        for name, level in self._rules.levels:
            if name == rule:
                return LEVEL_NAMES.get(level, RULES[rule])
        return RULES[rule]

    def _context_level(self, contexts: tuple[Context, ...]) -> Level | None:
        levels = [lv for lv in (self._level(c.rule) for c in contexts) if lv is not None]
        return max(levels) if levels else None

    def _is_trusted(self, tool_id: str) -> bool:
        return self._trusted.get(tool_id, 0.0) > self._clock()

    def _contexts(self, moment: float, ep: Episode) -> tuple[Context, ...]:
        return tuple(self._timeline.applicable(moment, ep.tool_id, ep.tool_name, self._rules))

    def _tool_name(self, tool_id: str, fallback: str) -> str:
        tool = self._catalogue().tool(tool_id)
        return tool.display_name if tool is not None else fallback

    # -- processes ----------------------------------------------------------

    def _process_started(self, event: ProcessStarted) -> list[Verdict]:
        verdicts: list[Verdict] = []
        if event.tool is not None:
            verdicts.extend(self._tool_started(event, event.tool))
        tactic = event.scare_tactic
        if tactic is not None:
            verdicts.extend(
                self._in_session(
                    "scare_tactic_in_session",
                    Stage.SCARE_TACTICS,
                    lambda tool: ev.scare_tactic(tool, tactic),
                    event.at,
                )
            )
        return verdicts

    def _tool_started(self, event: ProcessStarted, match: ToolMatch) -> list[Verdict]:
        start = event.create_time if event.create_time > 0 else event.at
        long_installed = event.started_by_service or (
            event.first_seen_days_ago is not None
            and event.first_seen_days_ago > self._rules.long_installed_days
        )
        in_session = self._in_session_on_start(match)
        ep = self._episodes.get(match.tool_id)
        if ep is not None and ep.seen_start:  # another process of the tool: same episode
            ep.pids.add(event.pid)
            ep.gone_at = None
            if in_session:
                return self._session_started(match.tool_id, event.pid, event.at, match, exact=True)
            return []
        if ep is None:
            name = self._tool_name(match.tool_id, match.display_name or match.tool_id)
            ep = Episode(match.tool_id, name, start)
            self._episodes[match.tool_id] = ep
        else:
            # The session sensor saw the tool before the process sensor did (they
            # scan independently): this is the start that episode never had.
            ep.start = min(ep.start, start)
        ep.seen_start = True
        ep.low = match.confidence is Confidence.LOW
        ep.long_installed = long_installed
        ep.pids.add(event.pid)
        ep.gone_at = None
        if in_session:
            ep.session_pids.add(event.pid)
            ep.exact_session_pids.add(event.pid)
            self._mark_session(match.tool_id)
        stage = Stage.SESSION_ACTIVE if ep.session_pids else Stage.REMOTE_TOOL_STARTED
        if self._is_trusted(match.tool_id) or ep.level is not None:
            return []
        name = ep.tool_name
        tool_evidence = self._tool_evidence(name, event, match, in_session)
        if ep.session_pids and not in_session:
            tool_evidence = (*tool_evidence, ev.session_active(name))
        contexts = self._contexts(start, ep)
        if contexts:
            level = self._context_level(contexts)
            return self._emit(ep, Draft(level, stage, event.at, contexts, tool_evidence))
        evidence = (*tool_evidence, ev.no_context())
        if self._timeline.known_call_covers(start, self._rules):
            rule, evidence = "known_caller", (*tool_evidence, ev.known_caller())
        elif long_installed:
            rule = "long_installed_without_context"
        elif match.confidence is Confidence.LOW:
            rule = "low_confidence_without_context"
        else:
            rule = "tool_without_context"
        return self._emit(ep, Draft(self._level(rule), stage, event.at, (), evidence))

    def _in_session_on_start(self, match: ToolMatch) -> bool:
        """Whether the starting process is itself a live session (no scan need confirm it).

        True for its incoming-session pattern, or for a tool that runs only for
        a session (Quick Assist, msra), whose traffic shows nothing else.
        """
        if match.incoming_session:
            return True
        tool = self._catalogue().tool(match.tool_id)
        return tool is not None and tool.session_while_running

    @staticmethod
    def _tool_evidence(
        name: str, event: ProcessStarted, match: ToolMatch, in_session: bool
    ) -> tuple[Evidence, ...]:
        out = [ev.tool_started(name)]
        if match.matched_by is not MatchedBy.PROCESS_NAME:
            out.append(ev.renamed(name, event.name))
        if event.path_class in _RUNS_FROM:
            out.append(ev.runs_from(name, event.path_class.value))
        if in_session:
            out.append(ev.session_active(name))
        return tuple(out)

    def _process_ended(self, event: ProcessEnded) -> None:
        for ep in self._episodes.values():
            if event.pid in ep.pids:
                ep.pids.discard(event.pid)
                ep.session_pids.discard(event.pid)
                ep.exact_session_pids.discard(event.pid)
                if not ep.pids:
                    ep.gone_at = self._clock()
                if not ep.session_pids:
                    self._unmark_session(ep.tool_id)

    # -- sessions -----------------------------------------------------------

    def _mark_session(self, tool_id: str) -> None:
        self._unmark_session(tool_id)
        self._session_order.append(tool_id)

    def _unmark_session(self, tool_id: str) -> None:
        if tool_id in self._session_order:
            self._session_order.remove(tool_id)

    def _session_started(
        self, tool_id: str, pid: int, at: float, match: ToolMatch | None, *, exact: bool
    ) -> list[Verdict]:
        ep = self._episodes.get(tool_id)
        if ep is None:
            # A session on a tool whose start we never saw (running before the agent).
            name = self._tool_name(tool_id, match.display_name if match else tool_id)
            tool = self._catalogue().tool(tool_id)
            low = tool is not None and tool.confidence is Confidence.LOW
            ep = Episode(tool_id, name, start=at, low=low)
            self._episodes[tool_id] = ep
        ep.pids.add(pid)
        ep.gone_at = None
        ep.session_pids.add(pid)
        if exact:
            ep.exact_session_pids.add(pid)
        self._mark_session(tool_id)
        if self._is_trusted(tool_id) or not escalates(ep, Stage.SESSION_ACTIVE):
            return []
        level = self._level("session_after_context")
        session: tuple[Evidence, ...] = (ev.session_active(ep.tool_name),)
        ongoing = self._timeline.ongoing_call(at)
        if ongoing is not None:  # its own sentence: the connection came during the call
            caller, began = ongoing
            session = (
                *session,
                ev.session_during_call(ep.tool_name, caller.value, ev.minutes(at - began)),
            )
        if ep.level is not None and ep.level >= Level.WARN:
            draft = Draft(level, Stage.SESSION_ACTIVE, at, (), (*session, *ep.context_evidence))
            return self._emit(ep, draft)
        contexts = self._contexts(at, ep)
        if not contexts:
            return []
        return self._emit(ep, Draft(level, Stage.SESSION_ACTIVE, at, contexts, session))

    def _session_ended(self, event: SessionEnded) -> None:
        ep = self._episodes.get(event.tool_id)
        if ep is not None:
            ep.session_pids.discard(event.pid)
            ep.exact_session_pids.discard(event.pid)
            if not ep.session_pids:
                self._unmark_session(event.tool_id)

    def _in_session(
        self, rule: str, stage: Stage, evidence: Callable[[str], Evidence], at: float
    ) -> list[Verdict]:
        """Fire ``rule`` for the tool whose session became active most recently."""
        for tool_id in reversed(self._session_order):
            ep = self._episodes.get(tool_id)
            if ep is None or not ep.session_pids:
                continue
            if self._is_trusted(tool_id):
                return []
            if self._needs_context(ep) and not self._contexts(at, ep):
                continue
            draft = Draft(self._level(rule), stage, at, (), (evidence(ep.tool_name),))
            return self._emit(ep, draft)
        return []

    @staticmethod
    def _needs_context(ep: Episode) -> bool:
        """Whether this session is too weak on its own for an in-session verdict.

        A low-confidence match may not be a remote tool at all. A tool installed
        long ago (or running before the agent) that shows only a connection on
        its ports may just be online: TeamViewer and AnyDesk keep their relay
        connection all day, and every person with one installed would be
        alerted for opening Task Manager. A warned episode, or an exact
        (process-pattern) session, needs nothing more.
        """
        if ep.level is not None and ep.level >= Level.WARN:
            return False
        installed = ep.long_installed or not ep.seen_start
        return ep.low or (installed and not ep.exact_session_pids)

    def _sensitive_page(self, event: SensitivePage) -> list[Verdict]:
        if event.kind is PageKind.BANKING:
            return self._in_session(
                "sensitive_page_in_session",
                Stage.BANKING_DURING_SESSION,
                lambda tool: ev.banking(tool, event.pattern_id),
                event.at,
            )
        return self._in_session(
            "sensitive_page_in_session",
            Stage.PAYMENT_DURING_SESSION,
            lambda tool: ev.payment(tool, event.pattern_id, event.kind.value),
            event.at,
        )

    # -- context ------------------------------------------------------------

    def _call_started(self, event: CallStarted) -> list[Verdict]:
        self._timeline.call_started(event)
        if event.caller is CallerKind.KNOWN:
            return []
        late = self._late_context(event.at, event.at + MAX_CALL_SECONDS)
        return [*late, *self._call_during_session(event)]  # a late-warned episode is skipped

    def _call_during_session(self, event: CallStarted) -> list[Verdict]:
        """An unknown / unverified call begins while someone is connected: the "refund call".

        For the tool whose session became active most recently, unless it was
        already warned about (its session verdict said it all), is trusted, or
        shows only a connection on its ports while long installed or running
        before the agent: that may be its idle relay connection (see
        ``_needs_context``), and an unknown call alone must not make every
        TeamViewer owner's phone ring a warning.
        """
        for tool_id in reversed(self._session_order):
            ep = self._episodes.get(tool_id)
            if ep is None or not ep.session_pids:
                continue
            if self._is_trusted(tool_id) or (ep.level is not None and ep.level >= Level.WARN):
                return []
            if (ep.long_installed or not ep.seen_start) and not ep.exact_session_pids:
                continue
            unknown = event.caller is CallerKind.UNKNOWN
            call = Context(
                Trigger.UNKNOWN_CALL if unknown else Trigger.UNVERIFIED_CALL,
                event.at,
                (ev.call_during_session(ep.tool_name, event.caller.value),),
                "call_during_session",
            )
            draft = Draft(
                self._level("call_during_session"),
                Stage.SESSION_ACTIVE,
                event.at,
                (call,),
                (ev.session_active(ep.tool_name),),
            )
            return self._emit(ep, draft, upgrade=True)
        return []

    def _scareware(self, event: ScarewarePage) -> list[Verdict]:
        self._timeline.page(event)
        return self._late_context(event.at, event.at + self._rules.scareware_window_minutes * 60)

    def _installer(self, event: InstallerDownloaded) -> list[Verdict]:
        self._timeline.installer(event, self._rules)
        latest = event.at + self._rules.installer_window_minutes * 60
        return self._late_context(event.at, latest, tool_id=event.tool_id)

    def _late_context(
        self, earliest: float, latest: float, tool_id: str | None = None
    ) -> list[Verdict]:
        """Context that arrived after a tool started but belongs before it: upgrade to WARN."""
        verdicts: list[Verdict] = []
        for ep in list(self._episodes.values()):
            if tool_id is not None and ep.tool_id != tool_id:
                continue
            # A session seen on a tool already running when the agent started has
            # no real start to put context before. A long-installed tool is judged
            # like at its start: context before it warns, whatever order it came in.
            if not ep.seen_start or not ep.pids or self._is_trusted(ep.tool_id):
                continue
            if (ep.level is not None and ep.level >= Level.WARN) or not (
                earliest - SKEW_SECONDS <= ep.start <= latest
            ):
                continue
            contexts = self._contexts(ep.start, ep)
            if not contexts:
                continue
            stage = ep.stage or Stage.REMOTE_TOOL_STARTED
            draft = Draft(
                self._context_level(contexts),
                stage,
                self._clock(),
                contexts,
                (ev.tool_started(ep.tool_name),),
            )
            verdicts.extend(self._emit(ep, draft, upgrade=True))
        return verdicts

    # -- emitting and expiry ------------------------------------------------

    def _emit(self, ep: Episode, draft: Draft, *, upgrade: bool = False) -> list[Verdict]:
        """The verdict ``draft`` gives for ``ep`` (recorded on it), if any; see ``episodes``."""
        verdict = ep.record(draft, self._new_id, upgrade=upgrade)
        return [] if verdict is None else [verdict]

    def _expire(self, now: float) -> None:
        """Forget what can no longer matter: memory stays bounded on a PC that runs for months."""
        self._timeline.expire(now, self._rules)
        for tool_id, ep in list(self._episodes.items()):
            if not ep.pids and ep.gone_at is not None and now - ep.gone_at > EPISODE_GRACE_SECONDS:
                del self._episodes[tool_id]
                self._unmark_session(tool_id)
        for tool_id, until in list(self._trusted.items()):
            if until <= now:
                del self._trusted[tool_id]
