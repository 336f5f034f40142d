"""Incidents: the journal's verdicts grouped with their outcomes, and their plain-text form.

Used by ``ratwatch-agent incidents`` and by the runtime to put a WARN / ALERT
on the console when no interactive warning is available. The text is for
the person at the PC (it may name the tool and the evidence), never for logs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.errors import AgentError
from agent.journal.journal import verdict_from_dict
from agent.verdict import Level, Outcome, Verdict

_LABEL = {Level.NOTE: "note", Level.WARN: "WARNING", Level.ALERT: "ALERT"}
_OUTCOME_TEXT = {
    Outcome.USER_STOPPED: "stopped by you",
    Outcome.USER_PAUSED: "paused by you",
    Outcome.USER_TRUSTED: "trusted by you",
    Outcome.IGNORED: "not answered",
    Outcome.NO_WARNING_SHOWN: "journal only",
    Outcome.LOGGED: "written to the log, no window (nobody was asked)",
}
_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_UNIT_SECONDS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass
class Incident:
    """One verdict and what became of it."""

    verdict: Verdict
    outcome: Outcome | None = None
    context: list[dict[str, Any]] = field(default_factory=list)


def local_time(ts: float) -> str:
    """Epoch seconds in the PC's local time, to the second."""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _nice(value: str) -> str:
    return value.replace("_", " ")


def format_verdict(verdict: Verdict, outcome: Outcome | None = None) -> str:
    """A verdict as a few readable lines."""
    head = f"{local_time(verdict.at)}  {_LABEL[verdict.level]}: {verdict.tool_name}"
    facts = [f"stage: {_nice(verdict.stage.value)}"]
    if verdict.trigger.value != "none":
        facts.insert(0, f"after: {_nice(verdict.trigger.value)}")
        if verdict.minutes_from_trigger is not None:
            facts.insert(1, f"{verdict.minutes_from_trigger:g} min later")
    if outcome is not None:
        facts.append(f"outcome: {_OUTCOME_TEXT[outcome]}")
    lines = [head, "    " + " | ".join(facts)]
    lines.extend(f"    - {e.text}" for e in verdict.evidence)
    return "\n".join(lines)


def _context_line(r: dict[str, Any]) -> str:
    event = str(r.get("event", ""))
    page = " ".join(x for x in (r.get("title", ""), r.get("url", "")) if x)
    texts = {
        "CallStarted": f"call started (caller: {r.get('caller', '?')})",
        "CallEnded": "call ended",
        "ScarewarePage": f"scareware page [{r.get('pattern_id', '')}] {page}".rstrip(),
        "SensitivePage": f"{_nice(str(r.get('kind', 'sensitive')))} page "
        f"[{r.get('pattern_id', '')}] {page}".rstrip(),
        "InstallerDownloaded": f"installer of {r.get('tool_id', '?')} downloaded: "
        f"{r.get('path', '')}" + (f" (from {r['origin_host']})" if r.get("origin_host") else ""),
    }
    return texts.get(event, str(event))


def timeline_line(record: dict[str, Any]) -> str | None:
    """One journal record as one line (``incidents --timeline``); None for unknown records."""
    kind = record.get("type")
    try:
        when = local_time(float(record["ts"]))
        if kind == "context":
            return f"{when}  {_context_line(record)} (via {record.get('source', '?')})"
        if kind == "verdict":
            v = verdict_from_dict(record["verdict"])
            after = f", after {_nice(v.trigger.value)}" if v.trigger.value != "none" else ""
            return f"{when}  {_LABEL[v.level]}: {v.tool_name} ({_nice(v.stage.value)}{after})"
        if kind == "outcome":
            outcome = Outcome(record["outcome"])
            name = record["verdict"]["tool_name"]
            return f"{when}    -> {name}: {_OUTCOME_TEXT[outcome]}"
    except (KeyError, ValueError, TypeError):
        return None
    return None


def incidents(records: Iterable[dict[str, Any]]) -> list[Incident]:
    """Group journal records: each verdict with its outcome, oldest first."""
    by_id: dict[str, Incident] = {}
    for record in records:
        kind = record.get("type")
        try:
            if kind == "verdict":
                verdict = verdict_from_dict(record["verdict"])
                by_id.setdefault(verdict.verdict_id, Incident(verdict))
            elif kind == "outcome":
                incident = by_id.setdefault(
                    record["verdict_id"], Incident(verdict_from_dict(record["verdict"]))
                )
                incident.outcome = Outcome(record["outcome"])
        except (KeyError, ValueError, TypeError, AttributeError):
            continue  # a record from a newer agent or damaged by hand: skip, keep the rest
    return sorted(by_id.values(), key=lambda i: i.verdict.at)


def parse_since(text: str, *, now: float | None = None) -> float:
    """``--since``: an ISO date/time ("2026-11-21", "2026-11-21T14:00") or an age ("2h", "7d")."""
    now = time.time() if now is None else now
    relative = _RELATIVE.fullmatch(text.strip().lower())
    if relative:
        return now - float(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise AgentError(
            f"--since: {text!r} is neither an ISO date/time (2026-11-21, 2026-11-21T14:00) "
            "nor an age like 30m, 2h, 7d, 2w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a plain date/time means the PC's local time
    return moment.timestamp()
