"""``ratwatch-collector stats``: which tools, how often, when, after what, and what happened."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

_DIMENSIONS = ("tool", "day", "week", "month", "quarter", "trigger", "stage", "outcome", "region")
_TRIGGERS = ("none", "unknown_call", "scareware_page", "installer_download", "unverified_call")
_STAGES = (
    "remote_tool_started",
    "session_active",
    "scare_tactics",
    "banking_during_session",
    "payment_during_session",
)
_OUTCOMES = ("user_stopped", "user_paused", "user_trusted", "ignored", "no_warning_shown")
_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _parse_by(value: str) -> list[str]:
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    for n in names:
        if n not in _DIMENSIONS:
            raise click.BadParameter(f"{n!r} is not a dimension; valid: {', '.join(_DIMENSIONS)}")
    return names


@click.command()
@click.option(
    "--collector",
    "address",
    metavar="HOST:PORT",
    help="Ask a running collector (needs an analyst token). Without it, read the data dir.",
)
@click.option(
    "--token",
    envvar="RATWATCH_ANALYST_TOKEN",
    show_envvar=True,
    help="Analyst token for --collector.",
)
@click.option("--tls", is_flag=True, help="Use TLS to the collector (system CA roots).")
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA bundle (PEM) that the collector's certificate must chain to; implies --tls.",
)
@click.option(
    "--client-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Client certificate (PEM) when the collector requires one; implies --tls.",
)
@click.option(
    "--client-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Private key (PEM) of --client-cert.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Read this collector data dir directly, read-only (default: from --config).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Collector config giving the data dir and min_cell_count for reading locally.",
)
@click.option(
    "--raw",
    is_flag=True,
    help="Operator only, with --data-dir or --config: the raw tallies, NOT FOR PUBLICATION "
    "(analysts get releases).",
)
@click.option(
    "--min-cell-count",
    type=click.IntRange(min=1),
    help="With --raw: suppress cells below this (default: the config's, 5).",
)
@click.option(
    "--by",
    "by",
    default="tool",
    show_default=True,
    help=f"Comma-separated dimensions to group by: {', '.join(_DIMENSIONS)} "
    "(at most one of day/week/month/quarter).",
)
@click.option("--since", type=_DATE, help="First UTC day to count (YYYY-MM-DD).")
@click.option("--until", type=_DATE, help="Last UTC day to count, inclusive (YYYY-MM-DD).")
@click.option("--tool", "tools", multiple=True, help="Only this tool id (repeatable).")
@click.option(
    "--trigger",
    "triggers",
    type=click.Choice(_TRIGGERS),
    multiple=True,
    help="Only this trigger (repeatable).",
)
@click.option(
    "--stage",
    "stages",
    type=click.Choice(_STAGES),
    multiple=True,
    help="Only this furthest stage (repeatable).",
)
@click.option(
    "--outcome",
    "outcomes",
    type=click.Choice(_OUTCOMES),
    multiple=True,
    help="Only this outcome (repeatable).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="Only this ISO 3166-1 alpha-2 region, e.g. NL (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for a running collector.",
)
def stats(  # noqa: PLR0917 - click passes every option
    address: str | None,
    token: str | None,
    tls: bool,
    ca_file: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    data_dir: Path | None,
    config_path: Path | None,
    raw: bool,
    min_cell_count: int | None,
    by: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    tools: tuple[str, ...],
    triggers: tuple[str, ...],
    stages: tuple[str, ...],
    outcomes: tuple[str, ...],
    regions: tuple[str, ...],
    fmt: str,
    timeout: float,
) -> None:
    """Count remote-access tools seen by agents: by tool, period, trigger, stage, outcome.

    \b
    Examples:
      ratwatch-collector stats --by tool
      ratwatch-collector stats --by tool,month --since 2026-01-01 --format csv
      ratwatch-collector stats --collector collector.example:50051 --by trigger

    Every answer is added up from releases: fixed tables per closed period
    with noise and a threshold, so no set of queries unmasks a small count.
    Each count comes with its 95 % interval; cells below the threshold are
    not listed, and their counts are in the "suppressed" figure. The
    operator can see the raw tallies on the collector's own machine with
    --data-dir DIR --raw (not for publication).
    """
    from collector import config as config_mod
    from collector import queries, raw_view
    from collector.client import Remote, query_to_proto, remote_query
    from collector.errors import CollectorError
    from collector.known_tools import ToolPolicy
    from collector.model import Dimension, Outcome, Query, Stage, Trigger
    from collector.names import display_name
    from collector.periods import from_date
    from collector.render import RENDERERS
    from collector.store import open_for_command
    from collector.validate import validate_query

    dims = _parse_by(by)
    if (len(set(dims) & {"day", "week", "month", "quarter"})) > 1:
        raise click.BadParameter("at most one of day, week, month, quarter", param_hint="--by")
    query = Query(
        group_by=tuple(Dimension[d.upper()] for d in dims),
        since_day=from_date(since.date()) if since else None,
        until_day=from_date(until.date()) if until else None,
        tool_ids=frozenset(tools),
        triggers=frozenset(int(Trigger[t.upper()]) for t in triggers),
        stages=frozenset(int(Stage[s.upper()]) for s in stages),
        outcomes=frozenset(int(Outcome[o.upper()]) for o in outcomes),
        regions=frozenset(r.upper() for r in regions),
    )
    if since and until and since > until:
        raise click.BadParameter("--since is after --until")
    if raw and address:
        raise click.UsageError(
            "--raw reads the data dir on the collector's machine; a collector serves "
            "releases only (drop --collector, give --data-dir)"
        )
    if min_cell_count and not raw:
        raise click.UsageError("--min-cell-count applies to --raw only (releases have a threshold)")
    try:
        # The collector's own query validation, also when reading a data dir
        # locally: a typo like --region UK is an error, not an empty table.
        validate_query(query_to_proto(query))
        if address:
            if not token:
                raise click.UsageError(
                    "--collector needs an analyst token: --token or RATWATCH_ANALYST_TOKEN"
                )
            report = remote_query(
                Remote(address, token, tls, ca_file, client_cert, client_key, timeout), query
            )
        else:
            config = config_mod.load(config_path)
            store = open_for_command(config, data_dir, read_only=True)
            try:
                visible = ToolPolicy.from_config(config).visible
                if raw:
                    report = raw_view.run(
                        store, query, min_cell_count or config.collector.min_cell_count, visible
                    )
                else:
                    report = queries.run(store, query, visible=visible)
            finally:
                store.close()
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(RENDERERS[fmt](report, display_name))
