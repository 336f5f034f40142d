"""``ratwatch-agent telemetry show|on|off``: see and control what leaves this PC."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent import __version__
from agent.commands import statedir
from agent.errors import TelemetryError

if TYPE_CHECKING:
    from agent.config import AgentConfig


@click.group()
def telemetry() -> None:
    """See and control the anonymised counts this PC sends.

    Only counts leave the PC: a UTC day, a remote-tool id, what came before it,
    how far it got, what you chose, versions and the deployer's region. Never
    names, paths, numbers, addresses, page titles or anything about this PC.
    """


@telemetry.command()
@statedir.options
def show(config_path: Path | None, state_dir: Path | None) -> None:
    """Print exactly what the next upload will contain, field by field."""
    import sqlite3

    from google.protobuf import text_format

    from agent.telemetry import consent
    from agent.telemetry.counts import Batch, parse_version
    from agent.telemetry.outbox import OUTBOX_FILE, Outbox
    from agent.telemetry.reporter import to_proto

    config = statedir.load(config_path, state_dir)
    decision = consent.decide(config)
    settings = config.telemetry
    click.echo(f"Telemetry: {'ON' if decision.enabled else 'OFF'} ({decision.reason})")
    version = parse_version(__version__)
    catalogue = _catalogue_version(config)
    path = config.state_dir / OUTBOX_FILE
    if path.exists():
        try:
            box = Outbox(
                path, max_rows=settings.outbox_max_rows, max_bytes=settings.outbox_max_bytes
            )
            try:
                batch = box.preview(
                    agent_version=version, catalogue_version=catalogue, region=settings.region
                )
                stats = box.stats()
                phase = box.get_meta("schedule_phase")
            finally:
                box.close()
        except (TelemetryError, sqlite3.Error) as exc:
            raise click.ClickException(f"cannot read the outbox: {exc}") from None
        click.echo(
            f"Outbox: {stats.pending_rows} counts waiting, {stats.in_flight_batches} batch(es) "
            f"being sent, {stats.dropped_unreported} dropped (outbox full or too old) not yet "
            f"reported; {stats.used_bytes} of {settings.outbox_max_bytes} bytes."
        )
    else:
        batch = Batch(b"", version, catalogue, settings.region, ())
        phase = None
        click.echo("Outbox: empty (nothing has been counted on this PC yet).")
    click.echo(_schedule_text(settings.upload_interval_hours, settings.jitter_minutes, phase))
    if not decision.enabled:
        click.echo("Nothing is sent while telemetry is off.")
        return
    click.echo("")
    click.echo("The next upload, field by field:")
    if batch.batch_id:
        click.echo(f"  batch_id          {batch.batch_id.hex()} (being re-sent until acknowledged)")
    else:
        click.echo("  batch_id          16 random bytes, drawn when the upload is built")
    major, minor, patch = batch.agent_version
    click.echo(f"  agent_version     {major}.{minor}.{patch}")
    click.echo(f"  catalogue_version {batch.catalogue_version}")
    click.echo(f"  region            {batch.region or '(none)'}")
    click.echo(
        f"  rows              {len(batch.rows)}" + ("" if batch.rows else " (an empty batch)")
    )
    for i, row in enumerate(batch.rows, 1):
        day = datetime.date(1970, 1, 1) + datetime.timedelta(days=row.utc_day)
        click.echo(
            f"    [{i}] utc_day={row.utc_day} ({day.isoformat()}) tool_id={row.tool_id} "
            f"trigger={row.trigger.name} stage={row.stage.name} outcome={row.outcome.name} "
            f"count={row.count}"
        )
    click.echo("")
    click.echo("The same message in protobuf text format (what goes over the wire):")
    click.echo(text_format.MessageToString(to_proto(batch), as_utf8=True).rstrip() or "(empty)")


def _catalogue_version(config: AgentConfig) -> int:
    from agent.catalogue.loader import load_catalogue
    from agent.errors import SignatureError

    extras = [Path(p) for p in config.signatures.extra_catalogues]
    for files in (extras, []):  # the running agent falls back to the bundled set the same way
        try:
            return load_catalogue(files).version
        except SignatureError:
            continue
    return 0  # no loadable catalogue: the running agent could not detect anything either


def _schedule_text(hours: float, jitter_minutes: float, phase: str | None) -> str:
    every = f"every {hours:g} h"
    if phase is None:
        return f"Schedule: {every}, at a moment chosen at random when the agent first runs."
    seconds, _, _interval = phase.partition("/")
    offset = float(seconds)
    if hours == 24:
        hh, mm = divmod(int(offset // 60), 60)
        at = f"at {hh:02d}:{mm:02d} UTC"
    else:
        at = f"{offset:.0f} s into each period"
    return f"Schedule: {every}, {at}, plus up to {jitter_minutes:g} min of random delay."


@telemetry.command()
@statedir.options
def off(config_path: Path | None, state_dir: Path | None) -> None:
    """Stop counting and sending on this PC, and delete counts not yet sent.

    Wins over the deployer's config; takes effect in a running agent at once.
    """
    import sqlite3

    from agent.telemetry import consent
    from agent.telemetry.outbox import OUTBOX_FILE, Outbox

    config = statedir.load(config_path, state_dir)
    consent.set_opt_out(config.state_dir, True)
    deleted = 0
    path = config.state_dir / OUTBOX_FILE
    if path.exists():
        try:
            box = Outbox(path)
            try:
                deleted = box.discard_all()
            finally:
                box.close()
        except (TelemetryError, sqlite3.Error) as exc:
            raise click.ClickException(
                "Telemetry is now OFF on this PC and nothing will be sent, but the counts "
                f"not yet sent could not be deleted: {exc}"
            ) from None
    click.echo(
        f"Telemetry is now OFF on this PC. {deleted} count(s) not yet sent were deleted; "
        "nothing will be sent. (ratwatch-agent telemetry on undoes this.)"
    )


@telemetry.command()
@statedir.options
def on(config_path: Path | None, state_dir: Path | None) -> None:
    """Allow anonymised counts again (if the deployer's config allows them)."""
    from agent.telemetry import consent

    config = statedir.load(config_path, state_dir)
    consent.set_opt_out(config.state_dir, False)
    decision = consent.decide(config)
    click.echo(f"Telemetry is now {'ON' if decision.enabled else 'OFF'}: {decision.reason}.")
