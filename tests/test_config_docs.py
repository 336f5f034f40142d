"""docs/configuration.md names every key of both programs' config dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agent.config import SECTIONS as AGENT_SECTIONS
from collector.config import SECTIONS as COLLECTOR_SECTIONS


def test_agent_keys_are_documented(repo: Path) -> None:
    doc = (repo / "docs" / "configuration.md").read_text()
    missing = [
        f"[{section}].{f.name}"
        for section, cls in AGENT_SECTIONS.items()
        for f in dataclasses.fields(cls)
        if f"`[{section}].{f.name}`" not in doc
    ]
    assert not missing, f"undocumented agent config keys: {missing}"


def test_collector_keys_are_documented(repo: Path) -> None:
    doc = (repo / "docs" / "configuration.md").read_text()
    collector_part = doc[doc.index("## Collector") :]
    missing = [
        f"[{section}].{f.name}"
        for section, cls in COLLECTOR_SECTIONS.items()
        for f in dataclasses.fields(cls)
        if f"`[{section}].{f.name}`" not in collector_part
    ]
    assert not missing, f"undocumented collector config keys: {missing}"
