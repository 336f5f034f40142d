"""``ratwatch-collector token``: create access tokens (only their hashes are stored)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def token() -> None:
    """Manage the tokens agents and analysts present to the collector."""


@token.command("add")
@click.option(
    "--role",
    type=click.Choice(["agent", "analyst"]),
    required=True,
    help="agent: may submit counts (deployment token); analyst: may query.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config to add the token's hash to (created if missing; "
    "default: the per-user collector.toml).",
)
def add(role: str, config_path: Path | None) -> None:
    """Create a random token, store its SHA-256 hash in the config, print the token once.

    The token itself is not kept anywhere: copy it now into the agents'
    [telemetry].token (role agent) or give it to the analyst (role analyst).
    A running collector picks the new token up when restarted.
    """
    from collector import config as config_mod
    from collector.auth import hash_token, new_token
    from collector.errors import CollectorError
    from collector.tokenfile import add_token_hash

    path = config_path or config_mod.default_config_path()
    secret = new_token()
    try:
        if path.exists():
            # Refuse before writing: a config the collector cannot load would
            # otherwise gain a hash whose token is never shown.
            config_mod.load(path)
        add_token_hash(path, role, hash_token(secret))
        config_mod.load(path)  # the edited file must still be a valid config
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"added an {role} token to {path} (only its hash is stored; restart the collector)",
        err=True,
    )
    click.echo("token (shown once, keep it secret):", err=True)
    click.echo(secret)
