"""The process sensor: every new process, read once and identified.

``sensor`` is the sensor itself, ``tracker`` the incremental listing, ``facts``
what one process is, ``first_seen`` when a tool was first seen on this PC, and
``connector_linux`` the kernel's exec/exit events on Linux.

May import: ``agent.sensors.base``, identify, catalogue and the vocabularies.
Imported by: the sensor registry (``agent.sensors``) and the session sensor.
"""
