"""Headless backend: no window, the verdict goes to the log (and the journal via the runtime)."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from typing import cast

from agent.config import AgentConfig
from agent.dialog.base import OnOutcome
from agent.verdict import Outcome, Verdict

log = logging.getLogger(__name__)

# Put on the verdict queue once ``stop_event`` is set, so ``serve`` can block on
# the queue without a timeout (an idle agent must not wake ten times a second).
_WAKE = object()

# On Windows before Python 3.14 a lock wait in the main thread cannot be
# interrupted by Ctrl+C: the handler only runs when the wait returns. There a
# one-second cap keeps Ctrl+C working; on POSIX the signal handler runs at once.
_MAIN_WAIT_CAP: float | None = 1.0 if sys.platform == "win32" else None


class LogPresenter:
    """Writes each WARN / ALERT to the log; nobody is asked, so the outcome is LOGGED."""

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
        waker = threading.Thread(
            target=_wake_on_stop, args=(verdicts, stop_event), name="ratwatch-log-wake", daemon=True
        )
        waker.start()
        try:
            while not stop_event.is_set():
                try:
                    item = verdicts.get(timeout=_MAIN_WAIT_CAP)
                except queue.Empty:
                    continue
                if item is _WAKE or stop_event.is_set():
                    break
                verdict = item
                log.warning(
                    "%s: %s — %s",
                    verdict.level.name,
                    verdict.tool_name,
                    " ".join(e.text for e in verdict.evidence),
                )
                on_outcome(verdict, Outcome.LOGGED)
        finally:
            if stop_event.is_set():
                waker.join()
            # Otherwise serve failed: the waker ends when the runtime sets stop_event.


def _wake_on_stop(verdicts: queue.Queue[Verdict], stop_event: threading.Event) -> None:
    stop_event.wait()
    # The queue holds verdicts only; the marker never reaches anyone but ``serve``.
    verdicts.put(cast(Verdict, _WAKE))
