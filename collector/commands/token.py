"""``ratwatch-collector token``: create, list, rotate and revoke tokens; what each one added.

Only hashes are stored; a token is named by its id (the first 12 hex digits
of its hash, collector.auth.token_id). Revoking with ``--purge-since``
removes exactly the counts the token added from that day on (tallies are
kept per token, collector.sqlite_tokens); it needs the collector stopped,
since only one process may write the database.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

_DATE = click.DateTime(formats=["%Y-%m-%d"])
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config (default: the per-user collector.toml).",
)


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


def _find(config_path: Path | None, token_ref: str) -> tuple[Path, str, str]:
    """The config path, role and full hash of the token whose id is ``token_ref``."""
    from collector import config as config_mod
    from collector.auth import token_id

    path = config_path or config_mod.default_config_path()
    config = config_mod.load(path)
    for role in ("agent", "analyst"):
        for h in getattr(config.tokens, role):
            if token_id(h) == token_ref:
                return path, role, h
    raise click.ClickException(f"{path}: no token with id {token_ref!r} (see `token list`)")


@token.command("list")
@_CONFIG
def list_tokens(config_path: Path | None) -> None:
    """Every configured token: its id and role (ids name tokens in volume, audit, revoke)."""
    from collector import config as config_mod
    from collector.auth import token_id
    from collector.errors import CollectorError

    try:
        config = config_mod.load(config_path)
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    for role in ("agent", "analyst"):
        for h in getattr(config.tokens, role):
            click.echo(f"{token_id(h)}  {role}")


@token.command("volume")
@_CONFIG
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this collector data dir directly, read-only (default: from --config).",
)
@click.option("--since", type=_DATE, help="First UTC day (default: 35 days ago).")
def volume(config_path: Path | None, data_dir: Path | None, since: dt.datetime | None) -> None:
    """Counts each deployment token added, per UTC day (read-only; the collector may run)."""
    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.periods import day_label, from_date
    from collector.store import open_for_command

    first = from_date(since.date()) if since else from_date(dt.date.today()) - 35
    try:
        config = config_mod.load(config_path)
        store = open_for_command(config, data_dir, read_only=True)
        try:
            volumes = store.token_volume(first)
        finally:
            store.close()
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'token':<12}  {'day':<10}  counts")
    for (tok, day), tools in sorted(volumes.items()):
        click.echo(f"{tok or '(none)':<12}  {day_label(day):<10}  {sum(tools.values())}")


@token.command("rotate")
@_CONFIG
@click.argument("token_ref", metavar="ID")
def rotate(config_path: Path | None, token_ref: str) -> None:
    """Add a new token with the role of ID; both are accepted until you revoke ID.

    The overlap is yours to choose: ship the new token to every PC, watch
    `token volume` move from ID to the new id, then `token revoke ID`.
    An agent still on ID after that keeps its counts and retries, so nothing
    is lost.
    """
    from collector.auth import hash_token, new_token, token_id
    from collector.errors import CollectorError
    from collector.tokenfile import add_token_hash

    path, role, _old = _find(config_path, token_ref)
    secret = new_token()
    try:
        add_token_hash(path, role, hash_token(secret))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"added {role} token {token_id(hash_token(secret))} beside {token_ref} in {path}; "
        "both are accepted until you revoke the old one (restart the collector)",
        err=True,
    )
    click.echo("token (shown once, keep it secret):", err=True)
    click.echo(secret)


@token.command("revoke")
@_CONFIG
@click.argument("token_ref", metavar="ID")
@click.option(
    "--purge-since",
    type=_DATE,
    help="Also remove every count ID added from this UTC day on (YYYY-MM-DD); "
    "with SQLite the collector must be stopped.",
)
def revoke(config_path: Path | None, token_ref: str, purge_since: dt.datetime | None) -> None:
    """Stop accepting token ID; with --purge-since, take back exactly what it added."""
    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.periods import from_date
    from collector.store import open_for_command
    from collector.tokenfile import edit_list

    path, role, token_hash = _find(config_path, token_ref)
    try:
        if purge_since is not None:
            # First: SQLite refuses while the collector runs (the data dir is locked),
            # and then nothing changes; PostgreSQL purges beside running collectors.
            store = open_for_command(config_mod.load(path))
            try:
                removed = store.purge_token(token_ref, from_date(purge_since.date()))
            finally:
                store.close()
            click.echo(
                f"removed {removed} counts token {token_ref} added since {purge_since:%Y-%m-%d}"
            )
        edit_list(path, "tokens", role, remove=(token_hash,))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked {role} token {token_ref} in {path} (restart the collector)")
