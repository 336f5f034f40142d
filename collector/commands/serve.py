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
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(0, 64),
    help="Front-end processes sharing the port (overrides [collector].workers; "
    "0 = one per CPU on Linux, 1 elsewhere).",
)
def serve(
    config_path: Path | None, data_dir: Path | None, listen: str | None, workers: int | None
) -> None:
    """Receive anonymised counts from agents and answer analysts' queries.

    Starts with no other setup: embedded SQLite under the data dir, plaintext
    on 127.0.0.1:50051. Prints where it listens and its data dir; Ctrl-C
    (or SIGTERM) finishes in-flight calls and stops cleanly. With several
    workers, front-end processes share the port and one writer process
    commits for all of them.
    """
    import logging

    from collector import config as config_mod
    from collector.errors import CollectorError

    try:
        config = config_mod.with_overrides(
            config_mod.load(config_path),
            listen=listen,
            data_dir=str(data_dir) if data_dir is not None else None,
            workers=workers,
        )
        logging.getLogger().setLevel(config.collector.log_level.upper())
        if config.metrics.listen and config.worker_count > 1:
            _multiprocess_metrics()
        # Imported only now: prometheus_client picks its mode when first imported.
        from collector.server import run_loop, run_until_signal
        from collector.supervisor import run_supervised

        echo = lambda line: click.echo(line, nl=True)  # noqa: E731
        if config.worker_count > 1:
            run_supervised(config, echo)
        else:
            run_loop(run_until_signal(config, echo))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc


def _multiprocess_metrics() -> None:
    """Every process of a ``--workers N`` collector counts into files the supervisor sums.

    The directory is private to this run (prometheus_client's multiprocess
    mode needs a fresh one) and inherited by the front ends' environment.
    """
    import atexit
    import os
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="ratwatch-metrics-")
    # prometheus_client's own variable (collector.metrics.MULTIPROC_ENV): not
    # imported from there, since importing collector.metrics would fix the mode.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
