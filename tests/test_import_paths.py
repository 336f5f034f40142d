"""One import path per name: every ``from agent... import name`` names the module defining it.

Re-export shims (a module importing a name only to hand it on) gave names two
import paths; this pins the one path, over the agent's own code, the tests and
the benchmarks. A submodule imported from its package (``from agent.correlate
import evidence``) is its own path and allowed.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _source(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _defined(module: str) -> frozenset[str]:
    """Names bound at the top level of ``module`` by a def, class or assignment."""
    path = _source(module)
    assert path is not None, module
    names: set[str] = set()
    body = ast.parse(path.read_text()).body
    for node in [*body, *(n for t in body if isinstance(t, ast.Try) for n in t.body)]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def _second_paths() -> list[str]:
    found = []
    files = [*REPO.glob("agent/**/*.py"), *REPO.glob("tests/**/*.py"), *REPO.glob("bench/*.py")]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module != "agent" and not node.module.startswith("agent."):
                continue
            for alias in node.names:
                if _source(f"{node.module}.{alias.name}") is not None:
                    continue  # a submodule
                if alias.name not in _defined(node.module):
                    rel = path.relative_to(REPO)
                    found.append(f"{rel}:{node.lineno}: {alias.name} from {node.module}")
    return found


def test_every_agent_name_is_imported_from_the_module_defining_it() -> None:
    assert _second_paths() == []


def test_no_agent_module_re_exports_with_all() -> None:
    shims = [
        str(p.relative_to(REPO))
        for p in REPO.glob("agent/**/*.py")
        if any(
            isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in n.targets)
            for n in ast.parse(p.read_text()).body
        )
    ]
    assert shims == []
