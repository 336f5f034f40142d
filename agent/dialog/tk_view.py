"""Drawing the Tk warning: fonts, colours, layout; the presenter (tk.py) decides what.

Design choices for a frightened, often older reader: body text 17 pt, headline
26 pt, near-black on white; one coloured band that says how serious it is
(amber for a warning, red for an alert); the safe choice, Stop, is the big
focused default; "I know this person" is small and shows its countdown.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont

from agent.config import DialogSection
from agent.dialog.content import help_content, stopped_content, trust_label, warning_content
from agent.dialog.i18n import Texts
from agent.dialog.lifecycle import Phase, WarningLifecycle
from agent.verdict import Level

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

    def __init__(self, root: tk.Tk, warning: WarningLifecycle, texts: Texts) -> None:
        self.root = root
        self.warning = warning
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


Choose = Callable[[str, WarningView], None]


class Painter:
    """Draws a ``WarningView`` into the root window; buttons call ``choose(role, view)``."""

    def __init__(self, root: tk.Tk, texts: Texts, section: DialogSection, choose: Choose) -> None:
        self.texts = texts
        self.section = section
        self._choose = choose
        self._fonts: dict[str, tkfont.Font] = {}
        self._wrap = WIDTH - 80
        self._compact = False
        self._make_fonts(root)

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

    def tick(self, view: WarningView) -> None:
        """Update the countdown on the trust button from the injected clock."""
        trust = view.widgets.get("trust")
        if not isinstance(trust, tk.Button):
            return
        left = view.warning.seconds_until_trust()
        label = trust_label(view.texts, left)
        enabled = view.warning.can_trust()
        if trust.cget("text") != label or (str(trust.cget("state")) == tk.NORMAL) != enabled:
            trust.configure(text=label, state="normal" if enabled else "disabled")

    def render(self, view: WarningView) -> None:
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
        warning = view.warning
        alert = warning.level >= Level.ALERT
        band = ALERT_BAND if alert else WARN_BAND
        band_ink = PAPER if alert else INK
        root.title(self.texts("window-title"))
        root.configure(bg=band, padx=6 if alert else 0, pady=6 if alert else 0)
        root.resizable(False, False)
        root.attributes("-topmost", True)

        frame = tk.Frame(root, bg=PAPER)
        frame.pack(fill=tk.BOTH, expand=True)
        content = warning_content(warning.ordered_verdicts, self.texts, suspended=warning.suspended)
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

        if warning.phase is Phase.PAUSED:
            self._render_help(view, body)
        elif warning.phase is Phase.STOPPED:
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
            command=lambda: self._choose(role, view),
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
        warning = view.warning
        content = warning_content(warning.ordered_verdicts, self.texts, suspended=warning.suspended)
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
        self._button(view, buttons, "stop", content.stop, primary=True)
        row = buttons
        if self._compact:
            row = tk.Frame(buttons, bg=PAPER)
            row.pack(fill=tk.X)
            row.columnconfigure(0, weight=1, uniform="choice")
            row.columnconfigure(1, weight=1, uniform="choice")
        first, second = (0, 1) if self._compact else (None, None)
        self._button(view, row, "pause", content.pause, column=first)
        trust = self._button(view, row, "trust", content.trust, quiet=True, column=second)
        trust.configure(state="disabled")

    def _render_help(self, view: WarningView, body: tk.Frame) -> None:
        help_ = help_content(self.section, self.texts, view.warning.tool_name)
        self._label(view, body, "headline", help_.headline, "headline")
        self._label(view, body, "help_body", help_.body, "body")
        self._label(view, body, "contact", help_.contact, "strong", gap=8)
        if help_.helpline:
            self._label(view, body, "helpline", help_.helpline, "strong", gap=8)
        buttons = tk.Frame(body, bg=PAPER, pady=16)
        buttons.pack(fill=tk.X)
        self._button(view, buttons, "stop", help_.stop, primary=True)
        self._button(view, buttons, "resume", help_.resume)

    def _render_stopped(self, view: WarningView, body: tk.Frame) -> None:
        result = view.warning.stop_result
        done = stopped_content(
            self.texts, view.warning.tool_name, complete=result is None or result.ok
        )
        self._label(view, body, "headline", done.headline, "headline")
        self._label(view, body, "stopped_body", done.body, "body")
        buttons = tk.Frame(body, bg=PAPER, pady=12)
        buttons.pack(fill=tk.X)
        self._button(view, buttons, "close", done.close, primary=True)

    def _place(self, root: tk.Tk) -> None:
        """Centre on the screen, a little above the middle where the eye goes first."""
        width = max(self._wrap + 80, root.winfo_reqwidth())
        height = root.winfo_reqheight()
        x = max(0, (root.winfo_screenwidth() - width) // 2)
        y = max(0, (root.winfo_screenheight() - height) // 3)
        root.geometry(f"{width}x{height}+{x}+{y}")
