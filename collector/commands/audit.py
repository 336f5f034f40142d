"""``ratwatch-collector audit``: flag tokens whose days depart from their own history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector TOML config (default: the per-user collector.toml).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this collector data dir directly, read-only (default: from --config).",
)
@click.option(
    "--days", type=click.IntRange(1, 35), default=7, show_default=True, help="Days to check."
)
def audit(config_path: Path | None, data_dir: Path | None, days: int) -> None:
    """Flag deployment tokens whose daily volume or tool mix departs from their recent past.

    Each token's day is compared with its own previous 28 days (see
    collector/audit.py for the rule and why). Exit status 1 when anything
    is flagged, so it can run from cron. Read-only; the collector may run.
    """
    from collector import audit as audit_mod
    from collector import config as config_mod
    from collector.errors import CollectorError
    from collector.periods import day_label, from_date
    from collector.store import open_for_command

    last = from_date(dt.datetime.now(dt.timezone.utc).date())
    first = last - days + 1
    try:
        config = config_mod.load(config_path)
        store = open_for_command(config, data_dir, read_only=True)
        try:
            volumes = store.token_volume(first - audit_mod.HISTORY_DAYS)
        finally:
            store.close()
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    findings = audit_mod.audit(volumes, first, last) if volumes else []
    flagged = [f for f in findings if f.reason != "new"]
    for f in findings:
        click.echo(f"{f.token or '(none)'}  {day_label(f.day)}  {f.reason}: {f.detail}")
    if not findings:
        click.echo(f"no token departs from its history in the last {days} days")
    if flagged:
        raise SystemExit(1)
