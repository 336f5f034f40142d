"""Every command of both programs answers --help (click), so a newcomer can explore."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from agent.cli import main as agent_main
from collector.cli import main as collector_main


def _walk(group: click.Command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if isinstance(group, click.Group):
        for name, cmd in group.commands.items():
            paths.extend(_walk(cmd, (*prefix, name)))
    return paths


@pytest.mark.parametrize("program", [agent_main, collector_main], ids=["agent", "collector"])
def test_every_command_has_help(program: click.Group) -> None:
    runner = CliRunner()
    for path in _walk(program):
        result = runner.invoke(program, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
