"""Screenshots of the real Tk warning, Dutch and English, WARN, ALERT and the help panel.

    python -m agent.demo.screenshots docs/

Draws each warning in a private Xvfb display (or the current one with
``--use-display``) acting on a harmless stand-in process, so the "paused"
line is true, and captures the window with Pillow's ``ImageGrab`` (X11).
Needs Xvfb (apt-get install xvfb) and Pillow (in the ``dev`` extras).
Writes ``warning-<lang>-<warn|alert|pause>.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import queue
import subprocess
import sys
import tempfile
import threading
import tkinter as tk
from collections.abc import Sequence
from pathlib import Path

from agent.config import AgentConfig, AgentSection, DialogSection
from agent.control.actions import ToolActions
from agent.demo.preview import sample_verdict
from agent.demo.xvfb import VirtualDisplay
from agent.dialog.tk import TkPresenter
from agent.dialog.tk_view import WarningView
from agent.verdict import Level, Outcome, Verdict

SHOTS: tuple[tuple[str, Level, bool], ...] = (
    ("warn", Level.WARN, False),
    ("alert", Level.ALERT, False),
    ("pause", Level.WARN, True),
)
STAND_IN = "import time\nwhile True: time.sleep(1)"


def capture(view: WarningView, path: Path) -> None:
    """Save the window's pixels (as the X server shows them) to ``path``."""
    from PIL import ImageGrab

    root = view.root
    # Move the pointer off the window so no button is drawn in its hover colour.
    root.event_generate("<Motion>", warp=True, x=root.winfo_width() + 50, y=0)
    root.update()
    x, y = root.winfo_rootx(), root.winfo_rooty()
    w, h = root.winfo_width(), root.winfo_height()
    image = ImageGrab.grab(bbox=(x, y, x + w, y + h), xdisplay=os.environ.get("DISPLAY"))
    image.save(path, optimize=True)


def shoot(out_dir: Path, languages: Sequence[str] = ("en", "nl")) -> list[Path]:
    """Draw every sample warning on the current DISPLAY and write the PNGs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ratwatch-shots-") as state:
        for lang in languages:
            for label, level, pause in SHOTS:
                tool = subprocess.Popen([sys.executable, "-c", STAND_IN])
                try:
                    path = out_dir / f"warning-{lang}-{label}.png"
                    _shoot_one(Path(state), lang, sample_verdict(level, [tool.pid]), pause, path)
                    written.append(path)
                finally:
                    tool.kill()
                    tool.wait()
    return written


def _shoot_one(state: Path, lang: str, verdict: Verdict, pause: bool, path: Path) -> None:
    config = AgentConfig(
        agent=AgentSection(state_dir=str(state), language=lang),
        dialog=DialogSection(
            backend="tk",
            trusted_contact_name="Anna" if lang == "en" else "Anneke",
            trusted_contact_phone="07700 900123" if lang == "en" else "06-12345678",
            helpline_country="GB" if lang == "en" else "NL",
        ),
    )
    stop = threading.Event()
    clock_start = [0.0]

    def clock() -> float:
        return clock_start[0]

    def on_render(view: WarningView) -> None:
        # Show the countdown part-way (a believable moment), then capture.
        clock_start[0] = 12.0
        presenter.refresh()
        if pause and view.warning.phase.value == "warning":
            view.button("pause").invoke()
            return

        def done() -> None:
            capture(view, path)
            stop.set()

        view.root.after(300, done)

    presenter = TkPresenter(
        dataclasses.replace(config), clock=clock, actions=ToolActions(state), on_render=on_render
    )
    verdicts: queue.Queue[Verdict] = queue.Queue()
    verdicts.put(verdict)

    def ignore(_v: Verdict, _o: Outcome) -> None:
        return None

    presenter.serve(verdicts, ignore, stop)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the screenshots into OUT_DIR."""
    parser = argparse.ArgumentParser(
        prog="python -m agent.demo.screenshots", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--use-display", action="store_true", help="draw on $DISPLAY instead of a private Xvfb"
    )
    args = parser.parse_args(argv)
    if args.use_display:
        paths = shoot(args.out_dir)
    else:
        with VirtualDisplay() as display:
            os.environ["DISPLAY"] = display
            paths = shoot(args.out_dir)
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except tk.TclError as exc:
        raise SystemExit(f"cannot draw the warning: {exc}") from exc
