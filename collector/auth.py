"""Deployment and analyst tokens: how they are made, stored and checked.

Tokens are 256-bit random strings made by ``secrets``; the config keeps only
``sha256:<hex>`` of each. A fast hash is the right tool here because the
token itself has full entropy: there is nothing to brute-force that a slow
password hash would protect, and a slow hash on every RPC would cost more
than the RPC. Looking the presented token's hash up in a set is not
constant-time, but what it could leak is a prefix of a SHA-256 value, from
which no token can be derived.

Agents send ``authorization: Bearer <token>`` as gRPC metadata.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable

METADATA_KEY = "authorization"
SCHEME = "Bearer "


class Role(enum.Enum):
    """Who may call what: agents submit, analysts query."""

    AGENT = "agent"
    ANALYST = "analyst"


class AuthError(Exception):
    """Raised by ``TokenCheck.role_of`` for a missing or unknown token."""


def new_token() -> str:
    """A fresh random token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The form kept in the config: ``sha256:`` and 64 hex digits."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def token_id(token_hash: str) -> str:
    """A token's short public name: the first 12 hex digits of its hash (``token list``).

    Tallies are kept per token id (collector.sqlite_tokens); 48 bits name a
    handful of deployment tokens without collision and reveal nothing of the token.
    """
    return token_hash.removeprefix("sha256:")[:12]


class TokenCheck:
    """Maps presented tokens to roles, from the hashes in the config."""

    def __init__(self, agent_hashes: Iterable[str], analyst_hashes: Iterable[str]) -> None:
        self._roles: dict[str, Role] = {}
        for h in agent_hashes:
            self._roles[h] = Role.AGENT
        for h in analyst_hashes:
            self._roles[h] = Role.ANALYST
        self._ids = {h: token_id(h) for h in self._roles}

    def has(self, role: Role) -> bool:
        """True when at least one token for ``role`` is configured."""
        return role in self._roles.values()

    def role_of(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Role:
        """The role of the bearer token in ``metadata``; AuthError when none matches."""
        return self.identify(metadata)[0]

    def identify(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> tuple[Role, str]:
        """The role and token id of the bearer token in ``metadata``; AuthError if none matches."""
        for key, raw in metadata or ():
            if key == METADATA_KEY:
                value = raw.decode("latin-1") if isinstance(raw, bytes) else raw
                if not value.startswith(SCHEME):
                    raise AuthError("the authorization metadata must be 'Bearer <token>'")
                h = hash_token(value[len(SCHEME) :].strip())
                role = self._roles.get(h)
                if role is None:
                    raise AuthError("unknown token")
                return role, self._ids[h]
        raise AuthError("no token: send 'authorization: Bearer <token>' metadata")
