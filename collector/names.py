"""Display names of tool ids, from the bundled signatures catalogue.

The collector reads only ``id`` and ``name`` of each tool entry in
``remote_tools.yaml``; it does not need (or validate) the detection content
itself. An id the catalogue does not know — a newer agent's tool, or a
missing or broken catalogue file — is shown as is, so a table never drops
or renames a count.
"""

from __future__ import annotations

import importlib
import logging
from functools import lru_cache
from typing import Any

import yaml
from ratwatch_proto.limits import DROPPED_TOOL_ID

log = logging.getLogger(__name__)


def _entries(data: Any) -> list[Any]:
    if isinstance(data, dict):
        tools = data.get("tools", [])
        return tools if isinstance(tools, list) else []
    return data if isinstance(data, list) else []


@lru_cache(maxsize=1)
def tool_names() -> dict[str, str]:
    """Map tool id -> display name; empty when the catalogue is absent or unreadable."""
    # Imported by name: the data package is installed from signatures/, where
    # mypy does not look, and only its bundled() accessor is needed here.
    signatures = importlib.import_module("ratwatch_signatures")
    resource = signatures.bundled(signatures.REMOTE_TOOLS)
    try:
        data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        log.warning("tool names unavailable (%s): showing tool ids", exc)
        return {}
    names: dict[str, str] = {}
    for entry in _entries(data):
        if isinstance(entry, dict):
            tool_id, name = entry.get("id"), entry.get("name")
            if isinstance(tool_id, str) and isinstance(name, str) and name:
                names[tool_id] = name
    return names


# Labels for the tool ids the wire contract reserves for the agents' bookkeeping.
RESERVED_NAMES = {DROPPED_TOOL_ID: "(dropped by full agent outboxes)"}


def display_name(tool_id: str) -> str:
    """The catalogue's name for ``tool_id``, a reserved id's label, or the id itself."""
    return tool_names().get(tool_id) or RESERVED_NAMES.get(tool_id, tool_id)
