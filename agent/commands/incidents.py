"""``ratwatch-agent incidents``: what the agent decided on this PC, from the local journal."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.commands import statedir

# The lead-up printed under each verdict; a longer one is cut in the middle
# (the trigger first, the latest records last) and names --timeline.
MAX_LEAD_UP_LINES = 8
TIMELINE_HINT = (
    "Every call, page, download and choice in order: ratwatch-agent incidents --timeline"
)


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LEAD_UP_LINES:
        return lines
    head, tail = 2, MAX_LEAD_UP_LINES - 3
    cut = len(lines) - head - tail
    return [*lines[:head], f"... {cut} more (incidents --timeline)", *lines[-tail:]]


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
    """Print the warnings and notes the agent recorded, what came before them, what was chosen.

    Under each verdict: the calls, pages and downloads that led up to it and the
    earlier stages of the same tool's session. The journal
    (<state dir>/journal.jsonl) stays on this PC; it may name pages and
    programs, which the anonymised counts never do.
    """
    from agent.errors import AgentError
    from agent.journal import incidents as incidents_module
    from agent.journal.journal import FILE_NAME, Journal
    from agent.journal.lead_up import LeadUp
    from agent.verdict import Level, format_verdict

    config = statedir.load(config_path, state_dir)
    journal = Journal(config.state_dir / FILE_NAME)
    try:
        since_ts = incidents_module.parse_since(since) if since else None
    except AgentError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    records = list(journal.records(since=since_ts))
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
    lead_up = LeadUp(records)
    for incident in found:
        click.echo(format_verdict(incident.verdict, incident.outcome))
        before = [incidents_module.timeline_line(r) for r in lead_up.of(incident.verdict)]
        lines = [line for line in before if line is not None]
        if lines:
            click.echo("    before it:")
            for line in _capped(lines):
                click.echo("      " + line)
        click.echo("")
    click.echo(f"{len(found)} incident(s); journal: {journal.path}")
    click.echo(TIMELINE_HINT)
