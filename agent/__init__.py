"""ratwatch agent: notices a remote-access tool starting shortly after a scam contact and warns."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ratwatch")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
