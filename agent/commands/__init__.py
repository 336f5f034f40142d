"""One module per ``ratwatch-agent`` command or command group (see agent/cli.py).

May import: every layer below the entry points (runtime, autostart, demo, dialog,
control, journal, telemetry, sensors, catalogue and the vocabularies), most of it
inside the command so ``--help`` stays fast.
Imported by: ``agent.cli`` only.
"""
