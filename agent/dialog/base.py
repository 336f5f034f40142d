"""The interface every warning backend implements.

The runtime's main thread belongs to the presenter (Tk needs it on macOS
and is happiest there everywhere): ``serve`` runs until ``stop_event`` is
set, takes verdicts from ``verdicts`` and reports each person's choice
through ``on_outcome``. Sensing and correlation run on other threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

from agent.verdict import Outcome, Verdict

OnOutcome = Callable[[Verdict, Outcome], None]


class Presenter(Protocol):
    """Shows WARN / ALERT verdicts to the person at the PC."""

    name: str

    def serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        """Show verdicts as they arrive until ``stop_event`` is set."""
