"""``ratwatch-collector``: the collector's command line.

Each command or group lives in its own ``collector/commands/*.py`` module
and is added to ``main`` below: this file is the table of contents.
"""

from __future__ import annotations

import logging

import click

from collector import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ratwatch-collector")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
def main(verbose: bool) -> None:
    """ratwatch collector: tallies anonymised remote-access-tool counts for analysts."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


# --- command table (keep sorted by command name) ---------------------------
from collector.commands.audit import audit  # noqa: E402
from collector.commands.dashboard import dashboard  # noqa: E402
from collector.commands.db import db  # noqa: E402
from collector.commands.report import report  # noqa: E402
from collector.commands.serve import serve  # noqa: E402
from collector.commands.stats import stats  # noqa: E402
from collector.commands.token import token  # noqa: E402
from collector.commands.tools import tools  # noqa: E402

main.add_command(audit)
main.add_command(dashboard)
main.add_command(db)
main.add_command(report)
main.add_command(serve)
main.add_command(stats)
main.add_command(token)
main.add_command(tools)
