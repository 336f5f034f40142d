"""Which tool ids analysts see: the catalogue's, the operator's allowed ones, never the rest.

A deployment token is public, so anyone can send a valid slug that no
catalogue knows (``support-microsoft.com.example``). Such rows are stored
like any other (so an operator can see what arrives, and an allowed id
keeps its history) but held apart: every analyst query is restricted to
the visible ids, so a held id changes no table, total or share until an
operator allows it (``ratwatch-collector tools allow``). A denied id stays
hidden for good.

Known ids are the bundled catalogue's plus, when ``[catalogue].lolrmm_dir``
points at a LOLRMM checkout, the ids its import gives: the agent's
``signatures import-lolrmm`` names each tool after its YAML file (lower
case, runs of other characters as ``_``) and keeps one id of each merged
group, so the ids of every file are a superset of what any agent sends
from that snapshot. The snapshot is read where it lies, never copied.
"""

from __future__ import annotations

import importlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from ratwatch_proto.limits import DROPPED_TOOL_ID

from collector.config import CollectorConfig
from collector.errors import ConfigError

log = logging.getLogger(__name__)


def _entries(data: Any) -> list[Any]:
    if isinstance(data, dict):
        tools = data.get("tools", [])
        return tools if isinstance(tools, list) else []
    return data if isinstance(data, list) else []


@lru_cache(maxsize=1)
def bundled_ids() -> frozenset[str]:
    """Every tool id of the bundled ``remote_tools.yaml``; empty when it cannot be read."""
    signatures = importlib.import_module("ratwatch_signatures")
    resource = signatures.bundled(signatures.REMOTE_TOOLS)
    try:
        data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("bundled catalogue unreadable (%s): no tool is known from it", exc)
        return frozenset()
    return frozenset(
        e["id"] for e in _entries(data) if isinstance(e, dict) and isinstance(e.get("id"), str)
    )


def lolrmm_id(stem: str) -> str:
    """The id the agent's LOLRMM import gives the entry in ``<stem>.yaml``."""
    s = re.sub(r"[^a-z0-9_.-]+", "_", stem.lower()).strip("_.-")
    return re.sub(r"_+", "_", s)[:48] or "tool"


def lolrmm_ids(directory: Path) -> frozenset[str]:
    """The ids of a LOLRMM checkout (its ``yaml/`` folder, or a folder of YAML files)."""
    folder = directory / "yaml" if (directory / "yaml").is_dir() else directory
    if not folder.is_dir():
        raise ConfigError(f"[catalogue].lolrmm_dir: {directory} is not a folder")
    found = [*folder.glob("*.yaml"), *folder.glob("*.yml")]
    if not found:
        raise ConfigError(f"[catalogue].lolrmm_dir: {folder} has no *.yaml or *.yml files")
    return frozenset(lolrmm_id(p.stem) for p in found)


@dataclass(frozen=True)
class ToolPolicy:
    """The known ids and the operator's decisions; see the module docstring."""

    known: frozenset[str]
    allowed: frozenset[str]
    denied: frozenset[str]

    @classmethod
    def from_config(cls, config: CollectorConfig) -> ToolPolicy:
        """Known ids from the catalogue (and LOLRMM when configured), decisions from [tools]."""
        known = bundled_ids()
        if config.catalogue.lolrmm_dir:
            known |= lolrmm_ids(Path(config.catalogue.lolrmm_dir).expanduser())
        return cls(known, frozenset(config.tools.allow), frozenset(config.tools.deny))

    @property
    def visible(self) -> frozenset[str]:
        """Ids whose counts analysts see (the reserved dropped tally included)."""
        return (self.known | self.allowed | {DROPPED_TOOL_ID}) - self.denied

    def pending(self, tool_ids: frozenset[str]) -> frozenset[str]:
        """Of ``tool_ids``, those held for a decision (neither visible nor denied)."""
        return tool_ids - self.visible - self.denied
