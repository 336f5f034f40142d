"""Incidents: the journal read back, verdicts grouped with their outcomes, and its timeline.

The journal's read side, used by ``ratwatch-agent incidents`` only: the live
path (the runtime) writes the journal and never reads it back (an
import-linter contract in pyproject.toml). A verdict's own text form is
``agent.verdict.format_verdict``. The text is for the person at the PC (it
may name the tool, pages and the evidence), never for logs.
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
from agent.verdict import LEVEL_LABEL, OUTCOME_TEXT, Outcome, Verdict, as_words, local_time

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([mhdw])")
_UNIT_SECONDS = {"m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass
class Incident:
    """One verdict and what became of it."""

    verdict: Verdict
    outcome: Outcome | None = None
    context: list[dict[str, Any]] = field(default_factory=list)


def _context_line(r: dict[str, Any]) -> str:
    event = str(r.get("event", ""))
    page = " ".join(x for x in (r.get("title", ""), r.get("url", "")) if x)
    texts = {
        "CallStarted": f"call started (caller: {r.get('caller', '?')})",
        "CallEnded": "call ended",
        "ScarewarePage": f"scareware page [{r.get('pattern_id', '')}] {page}".rstrip(),
        "SensitivePage": f"{as_words(str(r.get('kind', 'sensitive')))} page "
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
            after = f", after {as_words(v.trigger.value)}" if v.trigger.value != "none" else ""
            stage = as_words(v.stage.value)
            return f"{when}  {LEVEL_LABEL[v.level]}: {v.tool_name} ({stage}{after})"
        if kind == "outcome":
            outcome = Outcome(record["outcome"])
            name = record["verdict"]["tool_name"]
            return f"{when}    -> {name}: {OUTCOME_TEXT[outcome]}"
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
