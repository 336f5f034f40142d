"""Every collector error is in collector/errors.py under CollectorError, context as attributes."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

from collector import errors, sqlite_schema
from collector.errors import CollectorError, SchemaError, StoreError

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    known = {n for n in vars(errors) if isinstance(getattr(errors, n), type)}
    elsewhere = []
    for path in COLLECTOR.rglob("*.py"):
        if path == COLLECTOR / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and (b.id.endswith(("Error", "Exception")) or b.id in known)
                for b in node.bases
            ):
                elsewhere.append(f"{path.relative_to(COLLECTOR)}:{node.lineno}: {node.name}")
    assert elsewhere == []


def test_every_error_is_a_collector_error() -> None:
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert {c.__name__ for c in classes} >= {"AuthError", "AccessRefused", "SchemaError"}
    assert all(issubclass(c, CollectorError) for c in classes)


def test_schema_error_is_a_store_error_carrying_the_version_found() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA user_version=99")
    with pytest.raises(SchemaError) as info:
        sqlite_schema.check(conn)
    conn.close()
    assert isinstance(info.value, StoreError)
    assert info.value.found == 99
    assert "99" in str(info.value)
