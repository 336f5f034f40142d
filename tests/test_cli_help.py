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


@pytest.mark.parametrize("program", [agent_main, collector_main], ids=["agent", "collector"])
def test_every_command_and_option_explains_itself(program: click.Group) -> None:
    """--help that only lists bare option names helps nobody: each needs a text."""
    ctx = click.Context(program)
    for path in _walk(program):
        cmd: click.Command = program
        for name in path:
            assert isinstance(cmd, click.Group)
            cmd = cmd.commands[name]
        assert (cmd.help or "").strip(), f"{' '.join(path) or program.name}: no help text"
        for param in cmd.get_params(ctx):
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{' '.join(path)} {param.opts}: no help text"
