"""Demo and preview tooling: not part of the running agent.

``scenario`` is ``ratwatch-agent demo`` (a scripted scam from the call to the
analyst's table), ``stack`` its collector and agent child processes, ``preview``
a sample warning, ``screenshots`` the docs images on a private ``xvfb`` display.

May import: anything in the agent (it is an entry point, at the top).
Imported by: ``ratwatch-agent demo``, the tests and the benchmarks.
"""
