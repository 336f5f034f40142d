"""Every agent error lives in agent/errors.py, under AgentError, with its context as attributes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from agent import errors
from agent.autostart.base import write_atomic
from agent.errors import AgentError, AutostartError, HistoryUnreadable
from agent.sensors.browser.history import read_history

AGENT = Path(__file__).resolve().parents[2] / "agent"


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    elsewhere = []
    for path in AGENT.rglob("*.py"):
        if path.name == "errors.py" and path.parent == AGENT:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name)
                and (
                    b.id.endswith(("Error", "Exception"))
                    or b.id in {"AgentError", "SensorError", "OSError", "ValueError"}
                )
                for b in node.bases
            ):
                elsewhere.append(f"{path.relative_to(AGENT)}:{node.lineno}: {node.name}")
    assert elsewhere == []


def test_every_error_is_an_agent_error() -> None:
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) >= 12
    assert all(issubclass(c, AgentError) for c in classes)


def test_history_unreadable_carries_the_file_but_its_message_no_path(tmp_path: Path) -> None:
    missing = tmp_path / "anna" / "History"
    with pytest.raises(HistoryUnreadable) as info:
        read_history(missing, tmp_path, after_id=None, not_before=0.0)
    assert info.value.file == str(missing)
    assert "anna" not in str(info.value)


def test_autostart_error_carries_the_file(tmp_path: Path) -> None:
    in_the_way = tmp_path / "ratwatch-agent.desktop"  # a folder where the item should go
    in_the_way.mkdir()
    (in_the_way / "x").write_text("x")
    with pytest.raises(AutostartError) as info:
        write_atomic(in_the_way, b"[Desktop Entry]\n")
    assert info.value.file == str(in_the_way)
