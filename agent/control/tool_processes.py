"""Which processes are a remote tool *now*: what Stop and suspend act on besides a verdict's pids.

A verdict names the processes of the tool at the moment it was decided. By the
time the person clicks Stop that may be a PID that has exited: Debian's
``x0vncserver`` is a Perl wrapper that forks a monitor and the real server
(``X0tigervnc``) and exits; a launcher hands over to the program it started.
Stopping only the verdict's pids would then stop nothing while the session
goes on. So ``ToolFinder`` lists the running processes the catalogue
identifies as the same tool (by name, as the process sensor does), started no
earlier than the tool's first process known to the warning; ``Suspension``
adds their process trees to the verdict's. A PID is only ever acted on as the
process first seen under it (``ProcessRef``: PID and create time), never after
it exited and the number went to another program.

The catalogue is loaded on first use (the bundled files and the configured
extras), at the first warning: a PC that is never warned pays nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from agent.catalogue.model import Catalogue
from agent.errors import SignatureError
from agent.identify.tools import identify_process
from agent.platform import current_os

log = logging.getLogger(__name__)

# Processes of the tool started this long before its first known process still
# count (create times come from a boot time rounded to whole seconds on Linux).
START_SLACK_SECONDS = 2.0

FindTool = Callable[[str, float | None], list[int]]
"""(tool id, earliest create time or None) -> pids of the tool running now."""


class ToolFinder:
    """Finds the running processes of one tool by catalogue identity."""

    def __init__(
        self,
        catalogue: Callable[[], Catalogue] | None = None,
        *,
        extra_catalogues: Sequence[str] = (),
    ) -> None:
        self._given = catalogue
        self._extras = tuple(extra_catalogues)
        self._loaded: Catalogue | None = None
        self._lock = threading.Lock()

    def _catalogue(self) -> Catalogue | None:
        if self._given is not None:
            return self._given()
        with self._lock:
            if self._loaded is None:
                from agent.catalogue.loader import load_catalogue

                try:
                    self._loaded = load_catalogue([Path(p) for p in self._extras])
                except SignatureError:
                    # The agent warned about it at start; the bundled set still knows the tools.
                    with contextlib.suppress(SignatureError):
                        self._loaded = load_catalogue()
            return self._loaded

    def __call__(self, tool_id: str, since: float | None) -> list[int]:
        """Pids of the processes identified as ``tool_id``, started at ``since`` or later."""
        catalogue = self._catalogue()
        if catalogue is None:
            return []
        os_name = current_os()
        found = []
        for proc in psutil.process_iter(["name", "exe", "cmdline", "create_time", "status"]):
            info = proc.info
            if info["status"] == psutil.STATUS_ZOMBIE:
                continue  # exited, not yet reaped: runs no code, nothing to stop
            if since is not None and (info["create_time"] or 0.0) < since - START_SLACK_SECONDS:
                continue
            match = identify_process(
                catalogue,
                os_name=os_name,
                name=info["name"] or "",
                exe=info["exe"] or "",
                cmdline=info["cmdline"] or (),
                pe=None,
            )
            if match is not None and match.tool_id == tool_id:
                found.append(proc.pid)
        return found
