"""The person's real phone as the call signal: KDE Connect, Phone Link, the Mac's call history.

``sensor`` runs the sources and turns what they report into call events;
``source`` is the interface each source implements; ``caller`` holds the one
rule for "unknown" (Android's in-call protection rule); one module per source.
"""
