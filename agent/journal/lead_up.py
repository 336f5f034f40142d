"""What came before a verdict: the journal records that led up to it.

``ratwatch-agent incidents`` prints each verdict with its lead-up, so a person
sees the call, the page or the download that made the agent speak, and the
earlier stages of the same tool's session (tool started, session active, ...),
without reading the whole ``--timeline``.

The lead-up of a verdict is every context record (call, page, download) and
every earlier verdict / outcome record of the same tool from the trigger's
start (``minutes_from_trigger`` before the verdict) to the verdict. A verdict
with no trigger reaches back to the first verdict of the same tool's chain
(verdicts of that tool less than ``CHAIN_GAP_SECONDS`` apart), so a session's
stages stay together and a lone NOTE has no lead-up at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from agent.verdict import Verdict

# Sources stamp their records from their own clocks (phone app, browser
# history, process table); a context record this much after a verdict still
# belongs to it, as in the correlator's own window.
SKEW_SECONDS = 5.0
# Two verdicts for the same tool further apart than this are separate chains.
CHAIN_GAP_SECONDS = 3600.0


def _ts(record: dict[str, Any]) -> float:
    try:
        return float(record["ts"])
    except (KeyError, TypeError, ValueError):
        return float("nan")


def _tool_of(record: dict[str, Any]) -> str | None:
    verdict = record.get("verdict")
    if isinstance(verdict, dict):
        tool = verdict.get("tool_id")
        return tool if isinstance(tool, str) else None
    return None


class LeadUp:
    """An index over one journal's records that answers "what came before this verdict?"."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        usable = [r for r in records if _ts(r) == _ts(r)]  # NaN: no usable time, left out
        self._context = sorted((r for r in usable if r.get("type") == "context"), key=_ts)
        self._context_ts = [_ts(r) for r in self._context]
        self._by_tool: dict[str, list[dict[str, Any]]] = {}
        for r in usable:
            tool = _tool_of(r) if r.get("type") in ("verdict", "outcome") else None
            if tool is not None:
                self._by_tool.setdefault(tool, []).append(r)
        for rows in self._by_tool.values():
            rows.sort(key=_ts)

    def _start(self, verdict: Verdict, own: list[dict[str, Any]]) -> float:
        if verdict.minutes_from_trigger is not None:
            return verdict.at - verdict.minutes_from_trigger * 60.0 - SKEW_SECONDS
        start = verdict.at
        for r in reversed([r for r in own if r.get("type") == "verdict" and _ts(r) < start]):
            if start - _ts(r) > CHAIN_GAP_SECONDS:
                break
            start = _ts(r)
        return start - SKEW_SECONDS

    def of(self, verdict: Verdict) -> list[dict[str, Any]]:
        """The records before ``verdict`` (itself excluded), oldest first."""
        own = self._by_tool.get(verdict.tool_id, [])
        start, end = self._start(verdict, own), verdict.at + SKEW_SECONDS
        lo = bisect.bisect_left(self._context_ts, start)
        hi = bisect.bisect_right(self._context_ts, end)
        context = self._context[lo:hi]
        stages = [
            r for r in own if start <= _ts(r) <= verdict.at and _verdict_id(r) != verdict.verdict_id
        ]
        return sorted([*context, *stages], key=_ts)


def _verdict_id(record: dict[str, Any]) -> str | None:
    if record.get("type") == "outcome":
        return str(record.get("verdict_id"))
    verdict = record.get("verdict")
    return str(verdict.get("verdict_id")) if isinstance(verdict, dict) else None
