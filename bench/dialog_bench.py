"""How fast the Tk warning is on screen after a verdict reaches the presenter.

    python bench/dialog_bench.py [N]

Runs the real TkPresenter on a private Xvfb display, queues N verdicts one
after another (WARN and ALERT alternating, each answered with Stop then
Close), and prints the time from queueing to the window being viewable.
Baseline, measured in the same run on the same display: a bare Tk window with
one label, from creation to viewable. The difference is the presenter's queue
polling (every POLL_MS) plus building the warning.
"""

from __future__ import annotations

import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import tkinter as tk

from agent.config import AgentConfig, AgentSection
from agent.demo.preview import sample_verdict
from agent.demo.xvfb import VirtualDisplay
from agent.dialog.tk import POLL_MS, TkPresenter
from agent.verdict import Level, Verdict


def main(n: int) -> None:
    with VirtualDisplay() as display, tempfile.TemporaryDirectory() as state:
        os.environ["DISPLAY"] = display
        latencies: list[float] = []
        verdicts: queue.Queue[Verdict] = queue.Queue()
        stop = threading.Event()
        sent = [0.0]
        config = AgentConfig(agent=AgentSection(state_dir=state))

        baseline: list[float] = []

        def start(root: tk.Tk) -> None:
            for _ in range(n):
                began = time.monotonic()
                bare = tk.Toplevel(root)
                tk.Label(bare, text="baseline").pack()
                while not bare.winfo_viewable():
                    bare.update()
                baseline.append(time.monotonic() - began)
                bare.destroy()

            def send() -> None:
                sent[0] = time.monotonic()
                level = Level.ALERT if len(latencies) % 2 else Level.WARN
                verdicts.put(sample_verdict(level))

            def watch() -> None:
                view = presenter.view
                if (
                    view is not None
                    and view.root.winfo_viewable()
                    and view.key[1].value == "warning"
                ):
                    latencies.append(time.monotonic() - sent[0])
                    view.button("stop").invoke()
                    assert presenter.view is not None
                    presenter.view.button("close").invoke()
                    if len(latencies) >= n:
                        stop.set()
                        return
                    root.after(20, send)
                root.after(2, watch)

            root.after(100, send)
            root.after(2, watch)

        presenter = TkPresenter(config, on_start=start)
        presenter.serve(verdicts, lambda _v, _o: None, stop)
    latencies.sort()
    baseline.sort()
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    b50 = statistics.median(baseline) * 1000
    print(f"verdict queued -> warning viewable, n={n} (queue polled every {POLL_MS} ms)")
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   max {latencies[-1] * 1000:.1f} ms")
    print(f"  baseline, bare Tk window -> viewable: p50 {b50:.1f} ms")
    print(f"  ratio warning / bare window (p50): {p50 / b50:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
