"""``ratwatch-agent``: the agent's command line.

Each command or group lives in its own ``agent/commands/*.py`` module (heavy
imports inside the command functions, so ``--help`` stays fast) and is
added to ``main`` below: this file is the table of contents.
"""

from __future__ import annotations

import logging

import click

from agent import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ratwatch-agent")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
def main(verbose: bool) -> None:
    """ratwatch agent: warns when a remote-access tool starts after a scam call or pop-up."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- command table (keep sorted by command name) ---------------------------
from agent.commands.autostart import autostart  # noqa: E402
from agent.commands.demo import demo  # noqa: E402
from agent.commands.incidents import incidents  # noqa: E402
from agent.commands.phone import phone  # noqa: E402
from agent.commands.run import run  # noqa: E402
from agent.commands.signal import signal  # noqa: E402
from agent.commands.signatures import signatures  # noqa: E402
from agent.commands.telemetry import telemetry  # noqa: E402

main.add_command(autostart)
main.add_command(demo)
main.add_command(incidents)
main.add_command(phone)
main.add_command(run)
main.add_command(signal)
main.add_command(signatures)
main.add_command(telemetry)
