"""The wire limits live once, in ratwatch_proto.limits, and mean the same on both sides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ratwatch_proto import limits

ROOT = Path(__file__).resolve().parent.parent
# The shape of a slug rule: a character class of a-z0-9 followed by one with _ . -
_SLUG_LIKE = re.compile(r"\[a-z0-9\]\[a-z0-9[_.\-\\]+\]")
# Look-alikes that are other rules: the intake schema's own 64-character token
# (docs/intake.md), which never reaches the wire.
_OTHER_RULES = {"agent/sensors/intake/documents.py"}


@pytest.mark.parametrize("text", ["teamviewer", "quick_assist", "a", "x" * 48, "ratwatch.dropped"])
def test_slugs(text: str) -> None:
    assert limits.is_slug(text)


@pytest.mark.parametrize(
    "text", ["evil\n", "\nevil", "", "Evil", "_x", "x" * 49, "any desk", "c:\\x.exe", "é"]
)
def test_not_slugs(text: str) -> None:
    assert not limits.is_slug(text)


def test_the_dropped_id_is_reserved() -> None:
    assert limits.is_reserved(limits.DROPPED_TOOL_ID)
    assert limits.DROPPED_TOOL_ID in limits.RESERVED_TOOL_IDS
    assert not limits.is_reserved("teamviewer")


def test_the_slug_rule_is_written_only_in_the_wire_package() -> None:
    """A second copy of the pattern is how the agent and the collector drifted apart."""
    copies = [
        f"{path.relative_to(ROOT)}:{n}"
        for top in ("agent", "collector")
        for path in sorted((ROOT / top).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _SLUG_LIKE.search(line) and path.relative_to(ROOT).as_posix() not in _OTHER_RULES
    ]
    assert copies == [], "slug rule copied outside ratwatch_proto.limits: " + ", ".join(copies)
