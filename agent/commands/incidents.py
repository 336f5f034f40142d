"""``ratwatch-agent incidents``: what the agent decided on this PC, from the local journal."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.commands import statedir


@click.command("incidents")
@click.option("--json", "as_json", is_flag=True, help="Print the journal records as JSON lines.")
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only records from then on: an ISO date/time (2026-11-21, 2026-11-21T14:00) "
    "or an age (30m, 2h, 7d, 2w).",
)
@click.option(
    "--timeline",
    is_flag=True,
    help="One line per record, oldest first: calls and pages seen, verdicts, choices.",
)
@click.option(
    "--min-level",
    type=click.Choice(["note", "warn", "alert"]),
    default="note",
    show_default=True,
    help="Leave out quieter verdicts (note = journal-only ones).",
)
@statedir.options
def incidents(
    *,
    as_json: bool,
    timeline: bool,
    since: str | None,
    min_level: str,
    config_path: Path | None,
    state_dir: Path | None,
) -> None:
    """Print the warnings and notes the agent recorded, with what was chosen.

    The journal (<state dir>/journal.jsonl) stays on this PC; it may name
    pages and programs, which the anonymised counts never do.
    """
    from agent.errors import AgentError
    from agent.journal import incidents as incidents_module
    from agent.journal.journal import FILE_NAME, Journal
    from agent.verdict import Level, format_verdict

    config = statedir.load(config_path, state_dir)
    journal = Journal(config.state_dir / FILE_NAME)
    try:
        since_ts = incidents_module.parse_since(since) if since else None
    except AgentError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    records = journal.records(since=since_ts)
    if as_json:
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
        return
    if timeline:
        for record in records:
            line = incidents_module.timeline_line(record)
            if line is not None:
                click.echo(line)
        return
    floor = Level[min_level.upper()]
    found = [i for i in incidents_module.incidents(records) if i.verdict.level >= floor]
    if not found:
        click.echo(f"No incidents recorded in {journal.path}.")
        return
    for incident in found:
        click.echo(format_verdict(incident.verdict, incident.outcome))
        click.echo("")
    click.echo(f"{len(found)} incident(s); journal: {journal.path}")
