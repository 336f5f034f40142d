"""Correlate: the pure correlator that turns events into verdicts (no threads, no I/O).

``correlator`` holds the rules, ``episodes`` one tool's processes as one story,
``timeline`` the scam context that came before, ``evidence`` every evidence code.

May import: ``agent.catalogue`` and the vocabularies (events, verdict, errors, config).
Imported by: the runtime, the dialog (evidence texts) and the tests; never by a sensor.
"""
