"""Identify: pure matching of observations against the catalogue (no threads, no OS calls).

``tools`` names a process, command line or downloaded file; ``pathclass`` says
where an executable lives; ``pe`` reads version resources and signers; ``pages``
matches browser titles and URLs.

May import: ``agent.catalogue`` and the vocabularies.
Imported by: the sensors (and the demo and tests); never by the correlator.
"""
