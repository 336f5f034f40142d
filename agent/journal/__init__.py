"""Journal: the local record of verdicts, outcomes and context, kept on this PC only.

``journal`` writes and reads the JSON lines; ``incidents`` is the read side,
grouping verdicts with their outcomes for ``ratwatch-agent incidents``;
``lead_up`` finds what came before each verdict. A verdict's text form is the
vocabulary's (``agent.verdict.format_verdict``).

May import: the vocabularies (events, verdict, errors, redact).
Imported by: the runtime (``journal`` only: the live path writes and never reads
back; an import-linter contract), ``ratwatch-agent incidents`` and the demo.
"""
