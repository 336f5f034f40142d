"""Show a sample warning with a chosen backend, language and level.

    python -m agent.demo.preview --backend console --language nl --level alert

For deployers (see what people will see, with your helpline and contact
config) and for the tests, which drive it through a pseudo-terminal. With
``--tool-pid`` the sample warning acts on that real process tree, exactly as a
real warning would; without it there is nothing to pause or stop. Prints
``outcome: <value>`` when the person has chosen.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from agent import config as config_mod
from agent.config import AgentConfig
from agent.verdict import Evidence, Level, Outcome, Stage, Trigger, Verdict

SAMPLE_TOOL = "AnyDesk"


def sample_verdict(level: Level, pids: Sequence[int] = (), tool: str = SAMPLE_TOOL) -> Verdict:
    """A realistic verdict: a tool started after an unknown call (WARN), then a scare tactic."""
    evidence: list[Evidence] = []
    stage = Stage.REMOTE_TOOL_STARTED
    if level >= Level.ALERT:
        stage = Stage.SCARE_TACTICS
        evidence.append(
            Evidence(
                "scare_tactic",
                f"While someone was connected through {tool}, 'eventvwr' was started.",
                (("tool", tool), ("tactic", "eventvwr")),
            )
        )
    evidence += [
        Evidence("remote_tool_started", f"{tool} was started.", (("tool", tool),)),
        Evidence(
            "after_unknown_call",
            "It started 2 min after a call from an unknown caller ended.",
            (("minutes", "2"),),
        ),
        Evidence(
            "runs_from",
            f"{tool} runs from the downloads folder.",
            (("tool", tool), ("place", "downloads")),
        ),
    ]
    return Verdict(
        verdict_id=uuid.uuid4().hex,
        at=time.time(),
        level=level,
        tool_id=tool.lower(),
        tool_name=tool,
        trigger=Trigger.UNKNOWN_CALL,
        stage=stage,
        minutes_from_trigger=2.0,
        evidence=tuple(evidence),
        pids=tuple(pids),
    )


def _config(args: argparse.Namespace) -> AgentConfig:
    base: AgentConfig = config_mod.load(args.config) if args.config else AgentConfig()
    data: dict[str, dict[str, object]] = {
        "agent": {"language": args.language or base.agent.language},
        "dialog": {"backend": args.backend},
    }
    if args.state_dir:
        data["agent"]["state_dir"] = args.state_dir
    if args.countdown is not None:
        data["dialog"]["countdown_seconds"] = args.countdown
    import dataclasses

    agent = dataclasses.replace(base.agent, **data["agent"])  # type: ignore[arg-type]
    dialog = dataclasses.replace(base.dialog, **data["dialog"])  # type: ignore[arg-type]
    return dataclasses.replace(base, agent=agent, dialog=dialog)


def main(argv: Sequence[str] | None = None) -> int:
    """Show one sample warning and print the person's choice."""
    parser = argparse.ArgumentParser(
        prog="python -m agent.demo.preview", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backend", choices=("tk", "console"), default="console")
    parser.add_argument("--language", choices=("en", "nl"), default="")
    parser.add_argument("--level", choices=("warn", "alert"), default="warn")
    parser.add_argument("--tool-pid", type=int, action="append", default=[])
    parser.add_argument("--state-dir", default="", help="where suspended.json goes")
    parser.add_argument("--countdown", type=int, default=None, help="seconds before trust")
    parser.add_argument("--config", type=Path, default=None, help="agent config (TOML)")
    args = parser.parse_args(argv)

    config = _config(args)
    from agent.dialog import create_presenter

    presenter = create_presenter(config)
    verdicts: queue.Queue[Verdict] = queue.Queue()
    verdicts.put(sample_verdict(Level[args.level.upper()], args.tool_pid))
    stop = threading.Event()
    decided = threading.Event()
    chosen: list[Outcome] = []

    def on_outcome(_verdict: Verdict, outcome: Outcome) -> None:
        chosen.append(outcome)
        decided.set()

    def finish_when_closed() -> None:
        # After Stop the window still shows its confirmation: end the preview
        # when the person has closed it (the console has no such panel).
        decided.wait()
        while getattr(presenter, "view", None) is not None and not stop.is_set():
            time.sleep(0.05)
        stop.set()

    watcher = threading.Thread(
        target=finish_when_closed, name="ratwatch-preview-finish", daemon=True
    )
    watcher.start()
    try:
        presenter.serve(verdicts, on_outcome, stop)
    finally:
        stop.set()
        decided.set()
        watcher.join()
    print(f"outcome: {chosen[0].value if chosen else 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
