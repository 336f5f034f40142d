"""``ratwatch-agent autostart install|remove|status``: start the agent at the person's login."""

from __future__ import annotations

from pathlib import Path

import click

from agent.commands import statedir


@click.group("autostart")
def autostart() -> None:
    """Start the agent when you log in (a per-user login item, not a service).

    The warning has to appear on your own desktop, so the agent runs in your
    session: an XDG autostart entry on Linux, a LaunchAgent on macOS, a
    Task Scheduler task at logon on Windows.
    """


@autostart.command("install")
@statedir.options
def install(config_path: Path | None, state_dir: Path | None) -> None:
    """Add the login item (replacing an existing one); it runs `ratwatch-agent run`.

    --config and --state-dir are checked now and passed on to the agent.
    """
    from agent.autostart.base import LoginItem
    from agent.autostart.writers import agent_argv, writer_for
    from agent.errors import AutostartError

    if config_path is not None and not config_path.is_file():
        raise click.ClickException(f"{config_path}: config file not found")
    statedir.load(config_path, state_dir)  # a broken config must not start at every login
    item = LoginItem(agent_argv(config_path, state_dir))
    try:
        where = writer_for().install(item)
    except AutostartError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"installed: {where}")
    click.echo(f"runs: {' '.join(item.argv)}")
    click.echo("The agent will start at your next login.")


@autostart.command("remove")
def remove() -> None:
    """Remove the login item (the running agent keeps running until you stop it)."""
    from agent.autostart.writers import writer_for
    from agent.errors import AutostartError

    writer = writer_for()
    try:
        removed = writer.remove()
        where = writer.status().location
    except AutostartError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed: {where}" if removed else f"not installed: {where}")


@autostart.command("status")
def status() -> None:
    """Show whether the agent starts at login, and with which command."""
    from agent.autostart.writers import writer_for
    from agent.errors import AutostartError

    try:
        state = writer_for().status()
    except AutostartError as exc:
        raise click.ClickException(str(exc)) from None
    if state.installed:
        click.echo(f"installed: {state.location}")
        click.echo(f"runs: {' '.join(state.argv)}")
    else:
        click.echo(f"not installed: {state.location}")
