"""docs/configuration.md names every key of both programs' config dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agent.config import SECTIONS as AGENT_SECTIONS


def test_agent_keys_are_documented(repo: Path) -> None:
    doc = (repo / "docs" / "configuration.md").read_text()
    missing = [
        f"[{section}].{f.name}"
        for section, cls in AGENT_SECTIONS.items()
        for f in dataclasses.fields(cls)
        if f"`[{section}].{f.name}`" not in doc
    ]
    assert not missing, f"undocumented agent config keys: {missing}"
