"""The downloads sensor: a remote-access installer or portable EXE lands in Downloads.

``sensor`` watches the folders; ``origin`` reads where a file came from, with one
module per OS (``origin_linux``, ``origin_macos``, ``origin_windows``).

May import: ``agent.sensors.base``, identify, catalogue and the vocabularies.
Imported by: the sensor registry (``agent.sensors``).
"""
