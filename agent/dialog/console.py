"""The terminal warning: the same words and choices as the window, typed as numbers.

For PCs without a display session the agent can reach (a console-only Linux
box, a demo over SSH). Input is read without blocking so the countdown, the
timeout, new verdicts and the agent's stop are all noticed while the person
thinks.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from typing import TextIO

from agent.config import AgentConfig
from agent.control.actions import ToolActions
from agent.dialog.base import OnOutcome
from agent.dialog.content import help_content, stopped_content, trust_label, warning_content
from agent.dialog.helplines import check_helpline
from agent.dialog.i18n import Texts, detect_language
from agent.dialog.lifecycle import Clock, Desk, Phase, WarningLifecycle
from agent.verdict import Level, Verdict

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1
RULE = "=" * 72


class LineInput:
    """Lines typed on a terminal, read with a timeout (POSIX select; Windows msvcrt)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._buffer = ""
        self.closed = False

    def readline(self, timeout: float) -> str | None:
        """One line without its newline, None if nothing complete arrived in time.

        Raises EOFError when the terminal is gone.
        """
        if "\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition("\n")
            return line.strip()
        if sys.platform == "win32":
            self._read_windows(timeout)
        else:
            self._read_posix(timeout)
        if "\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition("\n")
            return line.strip()
        return None

    def discard_pending(self) -> None:
        """Drop everything typed so far: it was typed before the warning was on screen.

        An Enter pressed earlier (for the shell, for nothing) would otherwise
        answer the warning's first question, and Enter alone is Stop.
        """
        self._buffer = ""
        if self.closed:
            return
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import msvcrt

            while msvcrt.kbhit():  # type: ignore[attr-defined,unused-ignore]
                msvcrt.getwch()  # type: ignore[attr-defined,unused-ignore]
            return
        import select

        fd = self.stream.fileno()
        while select.select([fd], [], [], 0)[0]:
            if not os.read(fd, 1024):
                self.closed = True  # the terminal is gone; the next read says so
                return

    def _read_posix(self, timeout: float) -> None:
        import select

        fd = self.stream.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return
        chunk = os.read(fd, 1024)
        if not chunk:
            self.closed = True
            raise EOFError
        self._buffer += chunk.decode(errors="replace").replace("\r", "\n")

    def _read_windows(self, timeout: float) -> None:  # pragma: no cover - Windows only
        import msvcrt

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while msvcrt.kbhit():  # type: ignore[attr-defined,unused-ignore]
                ch = msvcrt.getwche()  # type: ignore[attr-defined,unused-ignore]
                self._buffer += "\n" if ch == "\r" else ch
                if ch == "\r":
                    print(flush=True)
                    return
            time.sleep(0.02)


class ConsolePresenter:
    """Prints each WARN / ALERT with numbered choices and acts on the typed answer."""

    name = "console"

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        actions: ToolActions | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or time.monotonic
        self.actions = actions or ToolActions.for_config(config)
        self.texts = Texts(detect_language(config.agent.language))
        check_helpline(config.dialog)
        self.input = LineInput(stdin or sys.stdin)
        self.out = stdout or sys.stdout
        self._shown: tuple[object, ...] = ()
        self._trust_announced = False

    def _say(self, *lines: str) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        """Show verdicts as they arrive until ``stop_event`` is set."""

        def make(verdict: Verdict) -> WarningLifecycle:
            return WarningLifecycle(
                verdict,
                section=self.config.dialog,
                actions=self.actions,
                clock=self.clock,
                on_outcome=on_outcome,
            )

        desk = Desk(make, on_outcome)
        try:
            while not stop_event.is_set():
                while True:
                    try:
                        desk.offer(verdicts.get_nowait())
                    except queue.Empty:
                        break
                warning = desk.advance()
                if warning is None:
                    stop_event.wait(TICK_SECONDS)
                    continue
                self._step(warning)
        finally:
            desk.close_all()

    def _step(self, warning: WarningLifecycle) -> None:
        key = (id(warning), warning.phase, warning.level, len(warning.verdicts))
        if key != self._shown:
            self._shown = key
            self.input.discard_pending()
            self._print(warning)
        if warning.timed_out():
            warning.dismiss()
            self._say(self.texts("console-ignored"))
            return
        if warning.phase is Phase.WARNING and not self._trust_announced and warning.can_trust():
            self._trust_announced = True
            self._say(self.texts("console-trust-ready"))
        if self.input.closed:
            warning.abandon()  # nobody can answer any more: release the tool
            return
        try:
            line = self.input.readline(TICK_SECONDS)
        except EOFError:
            warning.abandon()
            return
        if line is not None:
            self._answer(warning, line)

    def _answer(self, warning: WarningLifecycle, line: str) -> None:
        tool = warning.tool_name
        if warning.phase is Phase.WARNING:
            if line in ("", "1"):
                self._stop(warning)
            elif line == "2":
                warning.pause()
            elif line == "3":
                if warning.trust():
                    hours = f"{self.config.dialog.trust_hours:g}"
                    self._say(self.texts("console-trusted", tool=tool, hours=hours))
                else:
                    left = int(warning.seconds_until_trust() + 0.999)
                    self._say(self.texts("console-trust-wait", seconds=left))
            else:
                self._say(self.texts("console-invalid"))
        elif warning.phase is Phase.PAUSED:
            if line in ("", "1"):
                self._stop(warning)
            elif line == "2":
                warning.resume()
                self._say(self.texts("console-resumed", tool=tool))
            else:
                self._say(self.texts("console-invalid"))

    def _stop(self, warning: WarningLifecycle) -> None:
        result = warning.stop()
        done = stopped_content(self.texts, warning.tool_name, complete=result.ok)
        self._say("", done.headline, done.body, "")
        warning.dismiss()  # the terminal needs no "Close": the confirmation is printed

    def _print(self, warning: WarningLifecycle) -> None:
        texts = self.texts
        if warning.phase is Phase.PAUSED:
            help_ = help_content(self.config.dialog, texts, warning.tool_name)
            lines = ["", RULE, help_.headline, RULE, help_.body, help_.contact]
            if help_.helpline:
                lines.append(help_.helpline)
            lines += ["", f"  [1] {help_.stop}", f"  [2] {help_.resume}", ""]
            lines.append(texts("console-pause-choose"))
            self._say(*lines)
            return
        if warning.phase is not Phase.WARNING:
            return
        self._trust_announced = warning.can_trust()
        content = warning_content(warning.ordered_verdicts, texts, suspended=warning.suspended)
        alert = content.level >= Level.ALERT
        bold = "\033[1m" if self.out.isatty() else ""
        red = "\033[1;31m" if self.out.isatty() and alert else bold
        reset = "\033[0m" if bold or red else ""
        banner = "!" * 72 if alert else RULE
        lines = ["", banner, f"{red}{content.headline.upper()}{reset}", banner]
        lines += [*content.sentences, f"{bold}{content.advice}{reset}"]
        if content.paused_note:
            lines.append(content.paused_note)
        lines += [
            "",
            f"  [1] {content.stop}",
            f"  [2] {content.pause}",
            f"  [3] {trust_label(texts, warning.seconds_until_trust())}",
            "",
            texts("console-choose"),
        ]
        self._say(*lines)
