"""The Tk warning window: large, calm, high contrast, one click to stop.

Tk ships with Python on Windows and macOS and is one package away on Linux,
so the same window works everywhere without a GUI toolkit dependency. A
native Windows / macOS box can later sit beside this one in ``DIALOGS``,
driving the same ``WarningLifecycle``.

This module runs the window (the loop, the queue, the person's choices); the
drawing is in ``tk_view``. Enter chooses the focused button, by default Stop.
The window takes the keyboard focus when it appears, so for the first second
Enter and Space are ignored: a person typing in another window the moment the
warning pops up must not press Stop (or anything else) without seeing it.
The window stays on top and cannot be closed while an ALERT is on.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable

from agent.config import AgentConfig
from agent.control.actions import ToolActions
from agent.dialog.base import OnOutcome
from agent.dialog.helplines import check_helpline
from agent.dialog.i18n import Texts, detect_language
from agent.dialog.lifecycle import Clock, Desk, WarningLifecycle
from agent.dialog.tk_view import Painter, WarningView
from agent.verdict import Verdict

log = logging.getLogger(__name__)

POLL_MS = 50  # how often the queue and the countdown are looked at
# Keys typed this soon after a new view appears were meant for another window
# (browsers guard their download dialogs the same way).
KEY_GUARD_SECONDS = 1.0
Hook = Callable[[WarningView], None]


class TkPresenter:
    """Shows each WARN / ALERT in a Tk window and acts on the person's choice."""

    name = "tk"

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock | None = None,
        actions: ToolActions | None = None,
        on_start: Callable[[tk.Tk], None] | None = None,
        on_render: Hook | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or time.monotonic
        self.actions = actions or ToolActions.for_config(config)
        self.texts = Texts(detect_language(config.agent.language))
        check_helpline(config.dialog)
        self.on_start = on_start
        self.on_render = on_render
        self.view: WarningView | None = None
        self._root: tk.Tk | None = None
        self._painter: Painter | None = None
        self._keys_from = 0.0  # clock time from which Enter / Space count

    # -- loop -------------------------------------------------------------

    def serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        """Run the Tk loop in this (the main) thread until ``stop_event`` is set."""
        try:
            self._serve(verdicts, on_outcome, stop_event)
        finally:
            # Tk objects must be freed in the thread that created them. The
            # loop's closures keep the Tk root in a reference cycle; left to the
            # garbage collector it may be freed on a sensor thread, which aborts
            # the whole process ("Tcl_AsyncDelete: async handler deleted by the
            # wrong thread"). Collect here, on the Tk thread, once it is garbage.
            gc.collect()

    def _serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        desk = Desk(self._factory(on_outcome), on_outcome)
        try:
            root = tk.Tk(className="ratwatch")
        except tk.TclError as exc:
            # No usable display after all: warnings must still be recorded.
            log.error("cannot open the warning window (%s); using the log backend", exc)
            from agent.dialog.log import LogPresenter

            LogPresenter(self.config).serve(verdicts, on_outcome, stop_event)
            return
        self._root = root
        root.withdraw()
        self._painter = Painter(root, self.texts, self.config.dialog, self._choose)
        root.protocol("WM_DELETE_WINDOW", lambda: self._dismiss(desk))
        root.bind("<Return>", self._invoke_focused)
        root.bind("<KP_Enter>", self._invoke_focused)
        root.bind("<Escape>", lambda _e: self._dismiss(desk))

        def poll() -> None:
            if stop_event.is_set():
                desk.close_all()
                root.quit()
                return
            while True:
                try:
                    desk.offer(verdicts.get_nowait())
                except queue.Empty:
                    break
            current = desk.current
            if current is not None and current.timed_out():
                current.dismiss()
            self._show(desk.advance())
            root.after(POLL_MS, poll)

        root.after(0, poll)
        if self.on_start is not None:
            self.on_start(root)
        try:
            root.mainloop()
        finally:
            desk.close_all()  # also on an exception in a callback: nothing stays frozen
            self.view = None
            self._root = None
            self._painter = None
            root.destroy()

    def _factory(self, on_outcome: OnOutcome) -> Callable[[Verdict], WarningLifecycle]:
        def make(verdict: Verdict) -> WarningLifecycle:
            return WarningLifecycle(
                verdict,
                section=self.config.dialog,
                actions=self.actions,
                clock=self.clock,
                on_outcome=on_outcome,
            )

        return make

    def _dismiss(self, desk: Desk) -> None:
        """Window close button or Escape: allowed for a WARN only."""
        if desk.current is not None and desk.current.dismiss():
            self._show(desk.advance())

    def _keys_guarded(self, _event: tk.Event[tk.Misc] | None = None) -> str | None:
        """Swallow a key typed too soon after the view appeared ("break" stops Tk's binding)."""
        return "break" if self.clock() < self._keys_from else None

    def _invoke_focused(self, _event: tk.Event[tk.Misc]) -> None:
        """Enter: the button with the keyboard focus, else the default (Stop / Close)."""
        view = self.view
        if view is None or self._keys_guarded():
            return
        focused = view.root.focus_get()
        buttons = [w for w in view.widgets.values() if isinstance(w, tk.Button)]
        target = (
            focused if focused in buttons else view.widgets.get("stop") or view.widgets.get("close")
        )
        if isinstance(target, tk.Button) and str(target.cget("state")) != tk.DISABLED:
            target.invoke()

    # -- drawing ----------------------------------------------------------

    def _show(self, warning: WarningLifecycle | None) -> None:
        root = self._root
        if root is None:
            return
        if warning is None:
            if self.view is not None:
                self.view = None
                for child in root.winfo_children():
                    child.destroy()
                root.withdraw()
            return
        key = (id(warning), warning.phase, warning.level, len(warning.verdicts), warning.suspended)
        if self.view is None or self.view.key != key:
            self.view = WarningView(root, warning, self.texts)
            self.view.key = key
            self._paint().render(self.view)
            self._keys_from = self.clock() + KEY_GUARD_SECONDS
            for widget in self.view.widgets.values():
                if isinstance(widget, tk.Button):
                    # Space invokes a focused Tk button (its class binding runs
                    # after this widget binding, which can stop it).
                    widget.bind("<Key-space>", self._keys_guarded)
            if self.on_render is not None:
                self.on_render(self.view)
        self._paint().tick(self.view)

    def refresh(self) -> None:
        """Re-read the clock now (tests advance an injected clock, then call this)."""
        if self.view is not None:
            self._paint().tick(self.view)

    def _paint(self) -> Painter:
        assert self._painter is not None, "only called from inside serve()"
        return self._painter

    # -- the person's choices --------------------------------------------

    def _choose(self, role: str, view: WarningView) -> None:
        """A button was clicked (or Enter pressed): act, then redraw or close."""
        warning = view.warning
        if role == "stop":
            warning.stop()
        elif role == "pause":
            warning.pause()
        elif role == "resume":
            warning.resume()
        elif role == "trust":
            if not warning.trust():
                return  # still counting down (the button is disabled anyway)
        elif role == "close":
            warning.dismiss()
        if self._root is not None and self.view is not None:
            self._show(self.view.warning if not self.view.warning.finished else None)

