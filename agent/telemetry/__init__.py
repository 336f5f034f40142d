"""Telemetry: anonymised counts, kept in the outbox and sent on a fixed schedule.

``counts`` is what one count is, ``outbox`` (with ``outbox_schema`` and ``batches``)
keeps them durable in SQLite, ``reporter`` uploads them over gRPC on the slots
``schedule`` picks, ``consent`` says whether counts may be kept and sent.
Protobuf types stop at the reporter.

May import: the vocabularies, ``agent.catalogue`` (versions) and ``ratwatch_proto``.
Imported by: the runtime and ``ratwatch-agent telemetry``.
"""
