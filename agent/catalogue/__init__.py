"""Catalogue: the loaded detection content (remote tools, scam context, rules) as plain values.

``loader`` reads the bundled YAML (``ratwatch_signatures``) and configured extras,
``schema`` and ``nodes`` check every entry with its file and line, ``model`` holds
the frozen values, ``lolrmm/`` converts the public LOLRMM catalogue.

May import: the vocabularies (``agent.events``, ``agent.verdict``, ``agent.errors``,
``agent.config``, ``agent.redact``) and ``ratwatch_signatures``.
Imported by: identify, sensors, correlate, telemetry, the runtime and the commands.
"""
