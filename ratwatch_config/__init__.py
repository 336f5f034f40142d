"""ratwatch_config: the one typed loader for both programs' TOML configuration.

What it is: reading a TOML file and turning it into a program's frozen config
dataclasses (typed by msgspec), with one-line errors that name the file, the
key and what would be valid. The agent and the collector each keep their own
dataclasses and value rules in ``agent.config`` / ``collector.config``.

May import: the standard library and msgspec; never ``agent``, ``collector``
or the wire package ``ratwatch_proto``.
Imported by: ``agent.config`` and ``collector.config`` only.
"""
