"""The browser sensor: scareware, banking and payment pages from the history databases.

``sensor`` watches the databases, ``history`` reads new visits without touching
the browser's file, ``profiles`` says where each browser keeps them, per OS.

May import: ``agent.sensors.base``, identify, catalogue and the vocabularies.
Imported by: the sensor registry (``agent.sensors``).
"""
