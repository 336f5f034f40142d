"""``ratwatch-collector db``: create or upgrade the configured store's schema in place."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def db() -> None:
    """Manage the collector's database schema."""


@db.command("upgrade")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config naming the store (default: the per-user collector.toml).",
)
def upgrade(config_path: Path | None) -> None:
    """Create the tables, or bring an older schema to this collector's version.

    \b
    PostgreSQL: each step runs in its own transaction under an advisory
    lock, while collectors keep serving (steps only add); back the
    database up first. SQLite: the collector must be stopped (it holds the
    data dir); opening the store upgrades it. A schema newer than this
    collector is refused, and nothing is changed.
    """
    from collector import config as config_mod
    from collector.errors import CollectorError

    try:
        config = config_mod.load(config_path)
        if config.store.kind == "postgresql":
            click.echo(_upgrade_postgresql(config.store.dsn))
        else:
            from collector.sqlite_schema import SCHEMA_VERSION
            from collector.store import open_configured

            open_configured(config).close()
            click.echo(f"{config.data_dir / 'collector.sqlite3'}: schema version {SCHEMA_VERSION}")
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc


def _upgrade_postgresql(dsn: str) -> str:
    import psycopg

    from collector import pg_schema
    from collector.errors import SchemaError, StoreError
    from collector.pg_store import CONNECT_SECONDS, describe_dsn

    where = describe_dsn(dsn)
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_SECONDS) as conn:
            old = pg_schema.upgrade(conn)
    except SchemaError as exc:
        raise StoreError(f"{where}: {exc}") from None
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StoreError(
            f"{where}: upgrade failed, nothing of the failed step kept: {first}"
        ) from None
    new = pg_schema.SCHEMA_VERSION
    if old == new:
        return f"{where}: schema version {new}, already current"
    return f"{where}: schema version {old} -> {new}"
