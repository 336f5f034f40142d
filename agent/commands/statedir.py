"""Which config and state directory a command acts on: ``--config`` and ``--state-dir``.

``run``, ``signal`` and ``incidents`` must agree on this, or a signal would
land in an inbox the running agent does not watch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from agent.config import AgentConfig

F = TypeVar("F", bound=Callable[..., Any])


def options(func: F) -> F:
    """Add ``--config`` and ``--state-dir`` to a command."""
    func = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory (journal, inbox, outbox); overrides [agent].state_dir.",
    )(func)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Agent config file (TOML); see docs/configuration.md.",
    )(func)


def load(config_path: Path | None, state_dir: Path | None) -> AgentConfig:
    """The config with ``--state-dir`` applied; a bad config is a clean CLI error."""
    from agent import config as config_module
    from agent.errors import ConfigError

    try:
        config = config_module.load(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if state_dir is not None:
        agent = dataclasses.replace(config.agent, state_dir=str(state_dir))
        config = dataclasses.replace(config, agent=agent)
    return config
