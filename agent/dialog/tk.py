"""The Tk warning window: large, calm, high contrast, one click to stop.

Tk ships with Python on Windows and macOS and is one package away on Linux,
so the same window works everywhere without a GUI toolkit dependency. A
native Windows / macOS box can later sit beside this one in ``DIALOGS``,
driving the same ``WarningSession``.

Design choices for a frightened, often older reader: body text 17 pt, headline
26 pt, near-black on white; one coloured band that says how serious it is
(amber for a warning, red for an alert); the safe choice, Stop, is the big
focused default (Enter); "I know this person" is small and shows its
countdown. The window stays on top and cannot be closed while an ALERT is on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont

from agent.actions import ToolActions
from agent.config import AgentConfig
from agent.dialog.base import OnOutcome
from agent.dialog.content import help_content, stopped_content, trust_label, warning_content
from agent.dialog.helplines import check_helpline
from agent.dialog.i18n import Texts, detect_language
from agent.dialog.session import Clock, Desk, Phase, WarningSession
from agent.verdict import Level, Verdict

log = logging.getLogger(__name__)

POLL_MS = 50  # how often the queue and the countdown are looked at
WIDTH = 860
MAX_WIDTH = 1240  # wider on a short screen: fewer wrapped lines
SCREEN_MARGIN = 48  # room for a taskbar / menu bar
FAMILY = "DejaVu Sans"  # falls back to Tk's default sans when missing

# Colours: WCAG AA or better for every text/background pair used.
INK = "#111111"
MUTED = "#333333"
PAPER = "#FFFFFF"
WARN_BAND = "#FFC233"  # amber, with INK text
ALERT_BAND = "#B3261E"  # red, with white text
ALERT_INK = "#8C1D18"
STOP_BG = "#0B57D0"  # strong blue, white text (Stop is the safe action, not a danger)
STOP_ACTIVE = "#0842A0"
QUIET_BG = "#EEEEEE"


class WarningView:
    """The widgets of the warning currently on screen (tests read and drive them)."""

    def __init__(self, root: tk.Tk, session: WarningSession, texts: Texts) -> None:
        self.root = root
        self.session = session
        self.texts = texts
        self.widgets: dict[str, tk.Widget] = {}
        self.key: tuple[object, ...] = ()

    def button(self, name: str) -> tk.Button:
        """A button by role: stop, pause, trust, resume, close."""
        widget = self.widgets[name]
        assert isinstance(widget, tk.Button)
        return widget

    def text(self, name: str) -> str:
        """The text of a label by role: brand, headline, sentence0.., advice, paused, ..."""
        return str(self.widgets[name].cget("text"))


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
        self.actions = actions or ToolActions(config.state_dir)
        self.texts = Texts(detect_language(config.agent.language))
        check_helpline(config.dialog)
        self.on_start = on_start
        self.on_render = on_render
        self.view: WarningView | None = None
        self._root: tk.Tk | None = None
        self._fonts: dict[str, tkfont.Font] = {}
        self._wrap = WIDTH - 80
        self._compact = False

    # -- loop -------------------------------------------------------------

    def serve(
        self,
        verdicts: queue.Queue[Verdict],
        on_outcome: OnOutcome,
        stop_event: threading.Event,
    ) -> None:
        """Run the Tk loop in this (the main) thread until ``stop_event`` is set."""
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
        self._make_fonts(root)
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
            root.destroy()

    def _factory(self, on_outcome: OnOutcome) -> Callable[[Verdict], WarningSession]:
        def make(verdict: Verdict) -> WarningSession:
            return WarningSession(
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

    def _invoke_focused(self, _event: tk.Event[tk.Misc]) -> None:
        """Enter: the button with the keyboard focus, else the default (Stop / Close)."""
        view = self.view
        if view is None:
            return
        focused = view.root.focus_get()
        buttons = [w for w in view.widgets.values() if isinstance(w, tk.Button)]
        target = (
            focused if focused in buttons else view.widgets.get("stop") or view.widgets.get("close")
        )
        if isinstance(target, tk.Button) and str(target.cget("state")) != tk.DISABLED:
            target.invoke()

    # -- drawing ----------------------------------------------------------

    def _make_fonts(self, root: tk.Tk) -> None:
        families = set(tkfont.families(root))
        family = FAMILY if FAMILY in families else "TkDefaultFont"
        if family == "TkDefaultFont":
            family = str(tkfont.nametofont("TkDefaultFont").actual("family"))
        self._fonts = {
            "brand": tkfont.Font(root, family=family, size=16, weight="bold"),
            "headline": tkfont.Font(root, family=family, size=26, weight="bold"),
            "headline_compact": tkfont.Font(root, family=family, size=22, weight="bold"),
            "body": tkfont.Font(root, family=family, size=17),
            "strong": tkfont.Font(root, family=family, size=17, weight="bold"),
            "note": tkfont.Font(root, family=family, size=16, slant="italic"),
            "button": tkfont.Font(root, family=family, size=18, weight="bold"),
            "small_button": tkfont.Font(root, family=family, size=16),
        }

    def _show(self, session: WarningSession | None) -> None:
        root = self._root
        if root is None:
            return
        if session is None:
            if self.view is not None:
                self.view = None
                for child in root.winfo_children():
                    child.destroy()
                root.withdraw()
            return
        key = (id(session), session.phase, session.level, len(session.verdicts), session.suspended)
        if self.view is None or self.view.key != key:
            self.view = WarningView(root, session, self.texts)
            self.view.key = key
            self._render(self.view)
            if self.on_render is not None:
                self.on_render(self.view)
        self._tick(self.view)

    def _tick(self, view: WarningView) -> None:
        """Update the countdown on the trust button from the injected clock."""
        trust = view.widgets.get("trust")
        if not isinstance(trust, tk.Button):
            return
        left = view.session.seconds_until_trust()
        label = trust_label(view.texts, left)
        enabled = view.session.can_trust()
        if trust.cget("text") != label or (str(trust.cget("state")) == tk.NORMAL) != enabled:
            trust.configure(text=label, state="normal" if enabled else "disabled")

    def refresh(self) -> None:
        """Re-read the clock now (tests advance an injected clock, then call this)."""
        if self.view is not None:
            self._tick(self.view)

    def _render(self, view: WarningView) -> None:
        """Draw the warning; on a small screen wider first, then tighter, never smaller text.

        A 1366x768 laptop with a taskbar has about 720 pixels: the Dutch ALERT
        at the standard width would not fit, and a button below the screen
        edge is a button that does not exist.
        """
        root = view.root
        room = root.winfo_screenheight() - SCREEN_MARGIN
        widest = max(WIDTH, min(root.winfo_screenwidth() - 40, MAX_WIDTH))
        for width, compact in ((WIDTH, False), (widest, False), (widest, True)):
            self._wrap, self._compact = width - 80, compact
            self._build(view)
            root.update_idletasks()
            if root.winfo_reqheight() <= room:
                break
        self._place(root)
        root.deiconify()
        root.lift()
        root.focus_force()
        focus = view.widgets.get("stop") or view.widgets.get("close")
        if focus is not None:
            focus.focus_set()

    def _build(self, view: WarningView) -> None:
        root = view.root
        for child in root.winfo_children():
            child.destroy()
        view.widgets.clear()
        session = view.session
        alert = session.level >= Level.ALERT
        band = ALERT_BAND if alert else WARN_BAND
        band_ink = PAPER if alert else INK
        root.title(self.texts("window-title"))
        root.configure(bg=band, padx=6 if alert else 0, pady=6 if alert else 0)
        root.resizable(False, False)
        root.attributes("-topmost", True)

        frame = tk.Frame(root, bg=PAPER)
        frame.pack(fill=tk.BOTH, expand=True)
        content = warning_content(session.ordered_verdicts, self.texts, suspended=session.suspended)
        brand = tk.Label(
            frame,
            text=("\u26a0  " + content.brand),
            font=self._fonts["brand"],
            bg=band,
            fg=band_ink,
            anchor="w",
            padx=32,
            pady=8 if self._compact else 12,
        )
        brand.pack(fill=tk.X)
        view.widgets["brand"] = brand
        body = tk.Frame(frame, bg=PAPER, padx=40, pady=12 if self._compact else 24)
        body.pack(fill=tk.BOTH, expand=True)

        if session.phase is Phase.PAUSED:
            self._render_help(view, body)
        elif session.phase is Phase.STOPPED:
            self._render_stopped(view, body)
        else:
            self._render_warning(view, body, alert)

    def _label(
        self, view: WarningView, parent: tk.Frame, role: str, text: str, font: str, **kw: object
    ) -> tk.Label:
        label = tk.Label(
            parent,
            text=text,
            font=self._fonts[font],
            bg=PAPER,
            fg=str(kw.pop("fg", INK)),
            justify=tk.LEFT,
            anchor="w",
            wraplength=self._wrap,
        )
        gap = int(str(kw.pop("gap", 14)))
        label.pack(fill=tk.X, anchor="w", pady=(0, gap // 2 if self._compact else gap))
        view.widgets[role] = label
        return label

    def _button(
        self,
        view: WarningView,
        parent: tk.Frame,
        role: str,
        text: str,
        command: Callable[[], None],
        *,
        primary: bool = False,
        quiet: bool = False,
        column: int | None = None,
    ) -> tk.Button:
        if primary:
            bg, fg, active_bg, active_fg = STOP_BG, PAPER, STOP_ACTIVE, PAPER
        else:
            bg, fg, active_bg, active_fg = (QUIET_BG if quiet else PAPER), INK, "#DDDDDD", INK
        button = tk.Button(
            parent,
            text=text,
            command=command,
            font=self._fonts["small_button" if quiet else "button"],
            relief=tk.FLAT if primary else tk.SOLID,
            borderwidth=0 if primary else 2,
            highlightthickness=3,
            highlightcolor=INK,
            highlightbackground=PAPER,
            disabledforeground="#555555",
            padx=24,
            pady=(6 if quiet else 10) if self._compact else (10 if quiet else 16),
            cursor="hand2",
            bg=bg,
            fg=fg,
            activebackground=active_bg,
            activeforeground=active_fg,
        )
        if column is not None:  # compact layout: two equal buttons share a row, text wraps
            button.configure(wraplength=self._wrap // 2 - 60)
            button.grid(row=0, column=column, sticky="nsew", padx=(0, 8) if column == 0 else 0)
        else:
            button.pack(fill=tk.X, pady=(0, 8 if self._compact else 12))
        view.widgets[role] = button
        return button

    def _render_warning(self, view: WarningView, body: tk.Frame, alert: bool) -> None:
        session = view.session
        content = warning_content(session.ordered_verdicts, self.texts, suspended=session.suspended)
        headline_font = "headline_compact" if self._compact else "headline"
        self._label(
            view, body, "headline", content.headline, headline_font, fg=ALERT_INK if alert else INK
        )
        for i, sentence in enumerate(content.sentences):
            self._label(view, body, f"sentence{i}", sentence, "body", gap=10)
        self._label(view, body, "advice", content.advice, "strong", gap=10)
        if content.paused_note:
            self._label(view, body, "paused", content.paused_note, "note", fg=MUTED, gap=10)
        buttons = tk.Frame(body, bg=PAPER, pady=6 if self._compact else 12)
        buttons.pack(fill=tk.X)
        self._button(view, buttons, "stop", content.stop, lambda: self._stop(view), primary=True)
        row = buttons
        if self._compact:
            row = tk.Frame(buttons, bg=PAPER)
            row.pack(fill=tk.X)
            row.columnconfigure(0, weight=1, uniform="choice")
            row.columnconfigure(1, weight=1, uniform="choice")
        first, second = (0, 1) if self._compact else (None, None)
        self._button(view, row, "pause", content.pause, lambda: self._pause(view), column=first)
        trust = self._button(
            view, row, "trust", content.trust, lambda: self._trust(view), quiet=True, column=second
        )
        trust.configure(state="disabled")

    def _render_help(self, view: WarningView, body: tk.Frame) -> None:
        help_ = help_content(self.config.dialog, self.texts, view.session.tool_name)
        self._label(view, body, "headline", help_.headline, "headline")
        self._label(view, body, "help_body", help_.body, "body")
        self._label(view, body, "contact", help_.contact, "strong", gap=8)
        if help_.helpline:
            self._label(view, body, "helpline", help_.helpline, "strong", gap=8)
        buttons = tk.Frame(body, bg=PAPER, pady=16)
        buttons.pack(fill=tk.X)
        self._button(view, buttons, "stop", help_.stop, lambda: self._stop(view), primary=True)
        self._button(view, buttons, "resume", help_.resume, lambda: self._resume(view))

    def _render_stopped(self, view: WarningView, body: tk.Frame) -> None:
        result = view.session.stop_result
        done = stopped_content(
            self.texts, view.session.tool_name, complete=result is None or result.ok
        )
        self._label(view, body, "headline", done.headline, "headline")
        self._label(view, body, "stopped_body", done.body, "body")
        buttons = tk.Frame(body, bg=PAPER, pady=12)
        buttons.pack(fill=tk.X)
        self._button(view, buttons, "close", done.close, lambda: self._close(view), primary=True)

    def _place(self, root: tk.Tk) -> None:
        """Centre on the screen, a little above the middle where the eye goes first."""
        width = max(self._wrap + 80, root.winfo_reqwidth())
        height = root.winfo_reqheight()
        x = max(0, (root.winfo_screenwidth() - width) // 2)
        y = max(0, (root.winfo_screenheight() - height) // 3)
        root.geometry(f"{width}x{height}+{x}+{y}")

    # -- the person's choices --------------------------------------------

    def _after_choice(self) -> None:
        if self._root is not None and self.view is not None:
            self._show(self.view.session if not self.view.session.finished else None)

    def _stop(self, view: WarningView) -> None:
        view.session.stop()
        self._after_choice()

    def _pause(self, view: WarningView) -> None:
        view.session.pause()
        self._after_choice()

    def _resume(self, view: WarningView) -> None:
        view.session.resume()
        self._after_choice()

    def _trust(self, view: WarningView) -> None:
        if view.session.trust():
            self._after_choice()

    def _close(self, view: WarningView) -> None:
        view.session.dismiss()
        self._after_choice()
