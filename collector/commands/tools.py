"""``ratwatch-collector tools``: ids the catalogue does not know, held until an operator decides."""

from __future__ import annotations

from pathlib import Path

import click

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config (default: the per-user collector.toml).",
)


@click.group()
def tools() -> None:
    """Tool ids that agents sent but no catalogue knows: list, allow or deny them.

    Rows for such ids are stored but shown to no analyst until allowed. A
    running collector picks decisions up when restarted.
    """


@tools.command("pending")
@_CONFIG
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this data dir (default: from --config).",
)
def pending(config_path: Path | None, data_dir: Path | None) -> None:
    """List held ids with how many counts each holds (read-only; the collector may run)."""
    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.known_tools import ToolPolicy
    from collector.model import Dimension, Query
    from collector.store import open_for_command

    try:
        config = config_mod.load(config_path)
        policy = ToolPolicy.from_config(config)
        store = open_for_command(config, data_dir, read_only=True)
        try:
            cells = store.query(Query(group_by=(Dimension.TOOL,)))
        finally:
            store.close()
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = {str(c.key[0]): c.count for c in cells}
    held = sorted(policy.pending(frozenset(counts)), key=lambda t: (-counts[t], t))
    if not held:
        click.echo("no tool ids are waiting for a decision")
        return
    click.echo(f"{'tool id':<48}  counts")
    for tool_id in held:
        click.echo(f"{tool_id:<48}  {counts[tool_id]}")
    click.echo(f"{len(held)} id(s) held; `ratwatch-collector tools allow ID` shows one to analysts")


def _decide(config_path: Path | None, tool_ids: tuple[str, ...], decision: str) -> None:
    from ratwatch_proto.limits import SLUG

    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.tokenfile import edit_list

    other = "deny" if decision == "allow" else "allow"
    path = config_path or config_mod.default_config_path()
    for tool_id in tool_ids:
        if not SLUG.fullmatch(tool_id):
            raise click.BadParameter(f"{tool_id!r} is not a tool id; valid: {SLUG.pattern}")
    try:
        if path.exists():
            config_mod.load(path)  # refuse to edit a config the collector cannot load
        edit_list(path, "tools", decision, add=tool_ids)
        edit_list(path, "tools", other, remove=tool_ids)
        config_mod.load(path)  # ids are checked as slugs here
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    verb = "allowed: shown to analysts" if decision == "allow" else "denied: never shown"
    click.echo(f"{', '.join(tool_ids)} {verb} (written to {path}; restart the collector)")


@tools.command("allow")
@_CONFIG
@click.argument("tool_ids", nargs=-1, required=True)
def allow(config_path: Path | None, tool_ids: tuple[str, ...]) -> None:
    """Show the counts of these ids to analysts (past and future)."""
    _decide(config_path, tool_ids, "allow")


@tools.command("deny")
@_CONFIG
@click.argument("tool_ids", nargs=-1, required=True)
def deny(config_path: Path | None, tool_ids: tuple[str, ...]) -> None:
    """Never show these ids to analysts, and stop listing them as pending."""
    _decide(config_path, tool_ids, "deny")
