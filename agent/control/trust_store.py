"""Active "I know this person" choices, kept in ``<state_dir>/trust.json`` across restarts.

The person chose to trust a tool for ``[dialog].trust_hours``; a restart of
the agent (reboot, update) within that time must not warn them again. Only
tool ids and expiry times are stored, never who or why.

The file is rewritten whole and atomically (temporary file, fsync, rename),
so a crash leaves the old or the new version. Expired entries are dropped on
load and save. A damaged file is logged (without its path: support logs carry
none) and ignored: the worst case is one warning too many, never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

# Catalogue ids are slugs ("teamviewer", "quick_assist"); anything else is damage.
from ratwatch_proto.limits import is_slug

log = logging.getLogger(__name__)

FILE_NAME = "trust.json"
FORMAT_VERSION = 1


class TrustStore:
    """Reads and writes the trusted tools (tool id -> wall-clock expiry) of one state dir."""

    def __init__(self, state_dir: Path, clock: Callable[[], float]) -> None:
        self.path = state_dir / FILE_NAME
        self._clock = clock

    def load(self) -> dict[str, float]:
        """The trusts still in force; {} when there is no file or it cannot be used."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("cannot read the trust record (%s); no tool is trusted", type(exc).__name__)
            return {}
        try:
            trusts = _parse(text)
        except ValueError as exc:
            log.warning("trust record is damaged (%s); ignoring it, no tool is trusted", exc)
            return {}
        now = self._clock()
        return {tool_id: until for tool_id, until in trusts.items() if until > now}

    def save(self, trusts: Mapping[str, float]) -> None:
        """Replace the record with the trusts in ``trusts`` that have not expired."""
        now = self._clock()
        active = sorted((t, u) for t, u in trusts.items() if u > now)
        doc = {
            "version": FORMAT_VERSION,
            "trusted": [{"tool_id": tool_id, "until": until} for tool_id, until in active],
        }
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".trust-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _parse(text: str) -> dict[str, float]:
    """tool id -> expiry from the file's text; ValueError names what is wrong."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON at line {exc.lineno}") from None
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"expected an object with version {FORMAT_VERSION}")
    entries = doc.get("trusted")
    if not isinstance(entries, list):
        raise ValueError("'trusted' must be a list")
    out: dict[str, float] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"trusted[{i}] must be an object")
        tool_id, until = entry.get("tool_id"), entry.get("until")
        if not isinstance(tool_id, str) or not is_slug(tool_id):
            raise ValueError(f"trusted[{i}].tool_id is not a tool id")
        if (
            isinstance(until, bool)
            or not isinstance(until, int | float)
            or not math.isfinite(until)
        ):
            raise ValueError(f"trusted[{i}].until must be a number")
        out[tool_id] = max(float(until), out.get(tool_id, 0.0))
    return out
