"""Whether a host name is one of a catalogue's host entries ("x" exact, "*.x" with subdomains).

One rule for every host list in the catalogue: a page pattern's hosts and
excluded hosts, and a tool's vendor download hosts.
"""

from __future__ import annotations


def host_matches(host: str, entries: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``entries`` ("x" exact, "*.x" = x and its subdomains)."""
    if not host:
        return False
    for raw in entries:
        entry = raw.lower()
        if entry.startswith("*."):
            base = entry[2:]
            if host == base or host.endswith("." + base):
                return True
        elif host == entry:
            return True
    return False
