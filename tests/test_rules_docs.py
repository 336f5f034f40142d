"""signatures/README.md explains every rules.yaml key, level and rule, with the right defaults."""

from __future__ import annotations

import re
from pathlib import Path

from agent.catalogue.rules import RULES
from agent.catalogue.schema import LEVEL_NAMES, RULE_KEYS
from agent.correlate.correlator import LEVEL_NAMES as LEVEL_MEANINGS


def _rules_part(repo: Path) -> str:
    doc = (repo / "signatures" / "README.md").read_text()
    start = doc.index("## `rules:` (rules.yaml)")
    return doc[start : doc.index("\n## ", start + 1)]


def _table_rows(text: str) -> dict[str, list[str]]:
    """First-column key (in backticks) -> the row's other cells."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        key = re.fullmatch(r"`([a-z_]+)`", cells[0])
        if line.startswith("|") and key:
            rows[key[1]] = cells[1:]
    return rows


def test_every_rules_key_is_in_the_table(repo: Path) -> None:
    rows = _table_rows(_rules_part(repo))
    missing = [k for k in RULE_KEYS if k not in rows]
    assert not missing, f"rules.yaml keys missing from signatures/README.md: {missing}"


def test_every_level_is_in_the_table_and_means_something(repo: Path) -> None:
    rows = _table_rows(_rules_part(repo))
    assert [k for k in LEVEL_NAMES if k not in rows] == []
    # The correlator gives a meaning to exactly the levels the schema accepts.
    assert set(LEVEL_MEANINGS) == set(LEVEL_NAMES)


def test_every_rule_is_in_the_table_with_its_default(repo: Path) -> None:
    rows = _table_rows(_rules_part(repo))
    missing = [r for r in RULES if r not in rows]
    assert not missing, f"rules missing from signatures/README.md: {missing}"
    for rule, level in RULES.items():
        name = next(n for n, lv in LEVEL_MEANINGS.items() if lv == level)
        assert rows[rule][0] == f"`{name}`", f"{rule}: README says {rows[rule][0]}, default {name}"
