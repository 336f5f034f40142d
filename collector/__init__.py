"""ratwatch collector: receives anonymised counts over gRPC and answers analysts' questions."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ratwatch")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
