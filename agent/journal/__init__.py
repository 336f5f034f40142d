"""Journal: the local record of verdicts, outcomes and context, kept on this PC only.

``journal`` writes and reads the JSON lines, ``incidents`` groups verdicts with
their outcomes and prints them, ``lead_up`` finds what came before each verdict.

May import: the vocabularies (events, verdict, errors, redact).
Imported by: the runtime, ``ratwatch-agent incidents`` and the demo.
"""
