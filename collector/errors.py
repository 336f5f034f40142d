"""The collector's error hierarchy: one base, so callers can catch what the collector raises.

CollectorError
 ├── ConfigError       the TOML config is unreadable or a key has a bad value
 ├── ValidationError   a batch or query is invalid (maps to INVALID_ARGUMENT)
 ├── AuthError         no or unknown bearer token on a call (maps to UNAUTHENTICATED)
 ├── AccessRefused     the collector refused this client's token (stats client, dashboard)
 └── StoreError        the storage engine failed (maps to UNAVAILABLE / INTERNAL)
      └── SchemaError  the database's schema version (``found``) cannot be read or upgraded

Context is kept as attributes, not only in the message (``SchemaError.found``).
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base class for every error the collector raises on purpose."""


class ConfigError(CollectorError):
    """The collector's configuration is invalid; the message names the file and key."""


class ValidationError(CollectorError):
    """A request is invalid; the message names the row and field and what is valid."""


class AuthError(CollectorError):
    """Raised by ``TokenCheck.identify`` for a missing, malformed or unknown token."""


class AccessRefused(CollectorError):
    """The collector refused the token (UNAUTHENTICATED or PERMISSION_DENIED)."""


class StoreError(CollectorError):
    """The store could not complete an operation."""


class SchemaError(StoreError):
    """The database has a schema version (``found``) this collector cannot read or upgrade."""

    def __init__(self, message: str, *, found: int) -> None:
        self.found = found
        super().__init__(message)
