"""``ratwatch-agent demo``: the whole story in under a minute, on this machine only."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--dialog",
    type=click.Choice(["auto", "console", "tk"]),
    default="auto",
    show_default=True,
    help="How the warning is shown: console (answered by the demo), tk (a window you click; "
    "it closes by itself after 12 s), auto (tk when a display and Tk are available).",
)
@click.option("--keep", is_flag=True, help="Keep the demo's temporary directory for inspection.")
@click.option(
    "--dashboard",
    is_flag=True,
    help="At the end, open the analysts' dashboard in a browser and wait for Enter "
    "before stopping everything and cleaning up.",
)
def demo(dialog: str, keep: bool, dashboard: bool) -> None:
    """Play a scripted tech-support scam through a real agent and a real collector.

    Starts a collector (embedded SQLite, loopback) and the agent with its
    sensors on, as child processes; an unknown number calls, a harmless
    stand-in named like AnyDesk starts and connects, the scammer opens
    Event Viewer; the agent warns; the anonymised counts reach the collector and
    the analyst's table is printed. Everything it writes stays in one
    temporary directory, named at the start and removed at the end.
    """
    from agent.demo.scenario import DemoOptions, run_demo
    from agent.errors import AgentError

    if dialog == "auto":
        dialog = _auto_dialog()
    _clean_up_on_termination()
    try:
        run_demo(DemoOptions(dialog=dialog, keep=keep, dashboard=dashboard), click.echo)
    except AgentError as exc:
        raise click.ClickException(f"the demo stopped: {exc}") from None


def _clean_up_on_termination() -> None:
    """SIGTERM / SIGHUP (a closed terminal) end the demo through its clean-up, like Ctrl+C.

    By default they would end this process at once, leaving the collector, the
    agent, the stand-ins (one of them paused by the warning) and the temporary
    directory behind. Further signals are ignored while the clean-up runs.
    """
    import signal
    import sys
    from types import FrameType

    def stop(signum: int, _frame: FrameType | None) -> None:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    if sys.platform != "win32":
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, stop)


def _auto_dialog() -> str:
    """tk when this session has a display and Tk works, else console."""
    from agent.dialog import auto_backend

    return "tk" if auto_backend() == "tk" else "console"
