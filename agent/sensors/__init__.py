"""Sensor registry: name -> "module:factory". Enabled by name in ``[sensors].enabled``.

Each factory takes a ``SensorContext`` and returns a ``Sensor``. Modules are
imported only when their sensor is enabled, so a sensor's OS-specific
imports never burden the others. A sensor that does not apply on this OS
returns one that emits nothing and says so in the log.
"""

from __future__ import annotations

import importlib
from typing import cast

from agent.errors import ConfigError
from agent.sensors.base import Sensor, SensorContext

SENSORS: dict[str, str] = {
    "processes": "agent.sensors.processes.sensor:create",
    "sessions": "agent.sensors.sessions:create",
    "intake": "agent.sensors.intake.sensor:create",
    "browser": "agent.sensors.browser.sensor:create",
    "downloads": "agent.sensors.downloads.sensor:create",
    "calls": "agent.sensors.calls.sensor:create",
    "phone": "agent.sensors.phone.sensor:create",
}


def create(name: str, ctx: SensorContext) -> Sensor:
    """Build the sensor registered as ``name``."""
    try:
        target = SENSORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown sensor {name!r}; valid sensors: {', '.join(sorted(SENSORS))}"
        ) from None
    module_name, _, attr = target.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return cast(Sensor, factory(ctx))
