"""The intake sensor: context documents other programs drop into the agent's inbox.

``documents`` is the versioned JSON format (parsed and written here), ``sensor``
the watchdog-driven reader that turns each document into an event.

May import: ``agent.sensors.base``, identify, catalogue and the vocabularies.
Imported by: the sensor registry, the runtime (the inbox path) and ``ratwatch-agent signal``.
"""
