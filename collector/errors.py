"""The collector's error hierarchy.

CollectorError
 ├── ConfigError       the TOML config is unreadable or a key has a bad value
 ├── ValidationError   a batch or query is invalid (maps to INVALID_ARGUMENT)
 └── StoreError        the storage engine failed (maps to UNAVAILABLE / INTERNAL)
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base class for every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """The collector's configuration is invalid; the message names the file and key."""


class ValidationError(CollectorError):
    """A request is invalid; the message names the row and field and what is valid."""


class StoreError(CollectorError):
    """The store could not complete an operation."""
