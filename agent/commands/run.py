"""``ratwatch-agent run``: the agent itself, until SIGTERM / SIGINT (Ctrl+C)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.commands import statedir

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.runtime import CatalogueSource, ResolutionSink, Service


def telemetry_parts(
    config: AgentConfig, catalogue: CatalogueSource
) -> tuple[list[ResolutionSink], list[Service]]:
    """The resolution sinks and services for anonymised counts (outbox, reporter).

    Returns ``([outbox.admit], [outbox, reporter])`` when the deployer's config
    turns telemetry on (the person's own "off" is checked live by both); services
    stop in reverse order, so the reporter stops before the outbox closes.
    """
    from agent.errors import TelemetryError
    from agent.redact import redact_home
    from agent.telemetry.reporter import build_telemetry

    try:
        parts = build_telemetry(config, catalogue_version=lambda: catalogue.current().version)
    except TelemetryError as exc:  # counts are optional; the warning is not
        # Log lines may reach a support desk: the home folder is shown as ~.
        logging.getLogger(__name__).error(
            "telemetry disabled for this run: %s", redact_home(str(exc))
        )
        return [], []
    if parts is None:
        return [], []
    outbox, reporter = parts
    return [outbox.admit], [outbox, reporter]


@click.command("run")
@statedir.options
@click.option(
    "--dialog",
    type=click.Choice(["auto", "tk", "console", "log"]),
    default=None,
    help="Warning backend; overrides [dialog].backend.",
)
def run(config_path: Path | None, state_dir: Path | None, dialog: str | None) -> None:
    """Run the agent: watch for remote-access tools and warn when a scam is likely.

    Stops cleanly on SIGTERM or Ctrl+C. Verdicts are kept in the journal in
    the state directory (see `ratwatch-agent incidents`).
    """
    from agent.catalogue.loader import CatalogueHolder
    from agent.errors import AgentError, SignatureError
    from agent.runtime import Runtime, Status

    config = statedir.load(config_path, state_dir)
    if dialog is not None:
        config = dataclasses.replace(
            config, dialog=dataclasses.replace(config.dialog, backend=dialog)
        )
    root = logging.getLogger()
    if root.level != logging.DEBUG:  # -v wins over the config's level
        root.setLevel(config.agent.log_level.upper())
    try:
        holder = CatalogueHolder([Path(p) for p in config.signatures.extra_catalogues])
    except SignatureError as exc:
        raise click.ClickException(f"the bundled signatures are broken:\n{exc}") from None
    catalogue = holder.current()
    sinks, services = telemetry_parts(config, holder)

    def ready(status: Status) -> None:
        click.echo(
            f"ratwatch agent running (signatures v{catalogue.version}, "
            f"{len(catalogue.tools)} tools); warnings: {status.presenter}"
        )
        click.echo(f"  state dir: {status.state_dir}")
        click.echo(f"  journal:   {status.journal}")
        click.echo(f"  sensors:   {', '.join(status.sensors) or 'none'}")
        for name, reason in status.skipped.items():
            click.echo(f"  skipped:   {name} ({reason})")
        for name, kind in status.failed.items():
            click.echo(f"  failed:    {name} ({kind})")
        click.echo("Stop with Ctrl+C.")

    runtime = Runtime(
        config, catalogue=holder, services=services, resolution_sinks=sinks, on_ready=ready
    )
    try:
        status = runtime.run()
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None
    for name, kind in status.failed.items():
        click.echo(f"  failed:    {name} ({kind}; its thread ended, see the log)")
    click.echo("ratwatch agent stopped.")
