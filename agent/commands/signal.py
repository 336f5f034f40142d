"""``ratwatch-agent signal``: tell the running agent about a call or a page, via its inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from agent.commands import statedir


def _at_option(func: Any) -> Any:
    return click.option(
        "--at",
        "at",
        default=None,
        metavar="TIME",
        help="When it happened, ISO 8601 with a timezone (2026-11-21T14:00:00Z); default now.",
    )(func)


def _source_option(func: Any) -> Any:
    return click.option(
        "--source",
        default="cli",
        show_default=True,
        help="Short id of what reports this (a-z, 0-9, '.', '_', '-').",
    )(func)


def _force_option(func: Any) -> Any:
    return click.option(
        "--force",
        is_flag=True,
        help="Queue it even though no agent runs on this state dir now (read at its next start).",
    )(func)


def _send(
    config_path: Path | None,
    state_dir: Path | None,
    kind: str,
    at: str | None,
    force: bool,
    **fields: str,
) -> None:
    from agent import presence
    from agent.errors import IntakeError
    from agent.sensors.intake import documents as intake

    config = statedir.load(config_path, state_dir)
    try:
        when = intake.parse_time(at) if at is not None else None
        doc = intake.document(kind, at=when, **fields)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from None
    running = presence.agent_running(config.state_dir)
    if not running and not force:
        raise click.ClickException(
            f"no ratwatch agent is running on the state directory {config.state_dir}, so "
            "nothing would read this. Give the same --config / --state-dir as the running "
            "agent, start it first (ratwatch-agent run), or pass --force to queue it for "
            "the next agent that starts there."
        )
    try:
        path = intake.write_inbox_file(config.state_dir, doc)
    except IntakeError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write to the agent's inbox: {exc}") from None
    who = "the agent" if running else "the next agent to start there"
    click.echo(f"{kind} queued for {who}: {path}")


@click.group("signal")
def signal() -> None:
    """Report scam context (a call, a scareware page) to the running agent.

    Each command writes one JSON file into the agent's inbox
    (<state dir>/inbox/, schema in docs/intake.md), the same door a companion
    phone app or a browser extension uses. It refuses (exit 1) when no agent
    runs on that state dir, unless given --force.
    """


@signal.command("call-started")
@click.option(
    "--caller",
    type=click.Choice(["unknown", "known", "unverified"]),
    required=True,
    help="unknown = not in the contacts; known = in the contacts; unverified = cannot tell.",
)
@_at_option
@_source_option
@_force_option
@statedir.options
def call_started(
    *,
    caller: str,
    at: str | None,
    source: str,
    force: bool,
    config_path: Path | None,
    state_dir: Path | None,
) -> None:
    """A phone call began."""
    _send(config_path, state_dir, "call-started", at, force, caller=caller, source=source)


@signal.command("call-ended")
@_at_option
@_source_option
@_force_option
@statedir.options
def call_ended(
    at: str | None, source: str, force: bool, config_path: Path | None, state_dir: Path | None
) -> None:
    """The phone call ended."""
    _send(config_path, state_dir, "call-ended", at, force, source=source)


def _page_command(kind: str, summary: str) -> click.Command:
    @click.option("--pattern", default="intake", show_default=True, help="Pattern id, if known.")
    @_at_option
    @_source_option
    @_force_option
    @statedir.options
    def command(
        *,
        pattern: str,
        at: str | None,
        source: str,
        force: bool,
        config_path: Path | None,
        state_dir: Path | None,
    ) -> None:
        _send(config_path, state_dir, kind, at, force, pattern=pattern, source=source)

    command.__doc__ = summary
    return click.command(kind)(command)


signal.add_command(
    _page_command("scareware", "A page claiming the PC is infected or blocked was shown.")
)
signal.add_command(_page_command("banking", "An online-banking page was opened."))
signal.add_command(_page_command("payment", "A payment page (iDEAL, PayPal, ...) was opened."))
signal.add_command(_page_command("gift-card", "A gift-card or phone-credit shop was opened."))
