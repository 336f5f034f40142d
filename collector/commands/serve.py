"""``ratwatch-collector serve``: run the collector until Ctrl-C or SIGTERM."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config (default: the per-user collector.toml, if it exists).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite database lives (overrides [collector].data_dir).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Address to listen on (overrides [collector].listen; port 0 picks a free one).",
)
def serve(config_path: Path | None, data_dir: Path | None, listen: str | None) -> None:
    """Receive anonymised counts from agents and answer analysts' queries.

    Starts with no other setup: embedded SQLite under the data dir, plaintext
    on 127.0.0.1:50051. Prints where it listens and its data dir; Ctrl-C
    (or SIGTERM) finishes in-flight calls and stops cleanly.
    """
    import asyncio
    import logging

    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.server import run_until_signal

    try:
        config = config_mod.with_overrides(
            config_mod.load(config_path),
            listen=listen,
            data_dir=str(data_dir) if data_dir is not None else None,
        )
        logging.getLogger().setLevel(config.collector.log_level.upper())
        asyncio.run(run_until_signal(config, lambda line: click.echo(line, nl=True)))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
