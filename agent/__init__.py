"""ratwatch agent: notices a remote-access tool starting shortly after a scam contact and warns.

One package per stage of the data flow (sensors -> correlate -> dialog /
control / journal / telemetry), the wiring in ``runtime`` and the entry points
in ``cli`` and ``commands``; the layers are an import-linter contract in
pyproject.toml (DESIGN.md, "Layers").

May import: ``ratwatch_proto`` and ``ratwatch_config``, never the collector.
Imported by: its own entry points (``ratwatch-agent``, ``python -m agent``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ratwatch")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
