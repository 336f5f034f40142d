"""Sensors: what observes the PC and emits events; the registry of them by name.

``SENSORS`` maps each name usable in ``[sensors].enabled`` to a lazy factory:
it imports its sensor's module only when called, so a sensor's OS-specific
imports never burden the others. A sensor that does not apply on this OS
returns one that emits nothing and says so in the log. ``base`` is the
interface and the one guarded loop every sensor thread runs.

May import: ``agent.identify``, ``agent.catalogue`` and the vocabularies (events,
verdict, errors, config, redact, platform); one sensor never imports another,
except that ``sessions`` builds on the process sensor's facts (checked by
import-linter, see pyproject.toml).
Imported by: the runtime (and the demo, tests, benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.errors import ConfigError
from agent.sensors.base import Sensor, SensorContext

SensorFactory = Callable[[SensorContext], Sensor]


def _processes(ctx: SensorContext) -> Sensor:
    from agent.sensors.processes.sensor import create

    return create(ctx)


def _sessions(ctx: SensorContext) -> Sensor:
    from agent.sensors.sessions import create

    return create(ctx)


def _intake(ctx: SensorContext) -> Sensor:
    from agent.sensors.intake.sensor import create

    return create(ctx)


def _browser(ctx: SensorContext) -> Sensor:
    from agent.sensors.browser.sensor import create

    return create(ctx)


def _downloads(ctx: SensorContext) -> Sensor:
    from agent.sensors.downloads.sensor import create

    return create(ctx)


def _calls(ctx: SensorContext) -> Sensor:
    from agent.sensors.calls.sensor import create

    return create(ctx)


def _phone(ctx: SensorContext) -> Sensor:
    from agent.sensors.phone.sensor import create

    return create(ctx)


SENSORS: dict[str, SensorFactory] = {
    "processes": _processes,
    "sessions": _sessions,
    "intake": _intake,
    "browser": _browser,
    "downloads": _downloads,
    "calls": _calls,
    "phone": _phone,
}


def create(name: str, ctx: SensorContext) -> Sensor:
    """Build the sensor registered as ``name``."""
    try:
        factory = SENSORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown sensor {name!r}; valid sensors: {', '.join(sorted(SENSORS))}"
        ) from None
    return factory(ctx)
