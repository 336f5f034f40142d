"""Headless backend: no window, the verdict goes to the log (and the journal via the runtime)."""

from __future__ import annotations

import logging
import queue
import threading

from agent.config import AgentConfig
from agent.dialog.base import OnOutcome
from agent.verdict import Outcome, Verdict

log = logging.getLogger(__name__)


class LogPresenter:
    """Writes each WARN / ALERT to the log; nobody is asked, so nothing is chosen."""

    name = "log"

    def __init__(self, config: AgentConfig) -> None:
        self.config = config

    def serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        """Drain verdicts until ``stop_event`` is set."""
        while not stop_event.is_set():
            try:
                verdict = verdicts.get(timeout=0.1)
            except queue.Empty:
                continue
            log.warning(
                "%s: %s — %s",
                verdict.level.name,
                verdict.tool_name,
                " ".join(e.text for e in verdict.evidence),
            )
            on_outcome(verdict, Outcome.NO_WARNING_SHOWN)
