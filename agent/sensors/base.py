"""The one interface every sensor implements, and what it is given.

A sensor observes and emits; it never decides. It runs its own thread(s)
started by ``start`` and joined by ``stop`` (no thread may outlive ``stop``).
A sensor that fails at run time logs and keeps going, or ends its thread;
the runtime logs it and the rest of the agent carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.catalogue.model import Catalogue
from agent.config import AgentConfig
from agent.events import Event

Clock = Callable[[], float]
Emit = Callable[[Event], None]


@dataclass(frozen=True)
class SensorContext:
    """What a sensor may use: config, the current catalogue, a clock, its state dir."""

    config: AgentConfig
    # Returns the current catalogue snapshot (it may be swapped on reload).
    catalogue: Callable[[], Catalogue]
    clock: Clock
    state_dir: Path


class Sensor(Protocol):
    """A source of events."""

    name: str

    def start(self, emit: Emit) -> None:
        """Begin observing; call ``emit`` (thread-safe) for each event."""

    def stop(self) -> None:
        """Stop observing and join every thread this sensor started."""
