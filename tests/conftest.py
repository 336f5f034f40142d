"""Shared test fixtures.

The suite runs against the *installed* ratwatch (scripts/test.sh installs it
non-editably), so a module or data file missing from the package fails here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import agent

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def pytest_configure(config: pytest.Config) -> None:
    installed = Path(agent.__file__).resolve()
    from_source = "site-packages" not in installed.parts
    if from_source and os.environ.get("RATWATCH_ALLOW_SOURCE_TREE") != "1":
        raise pytest.UsageError(
            f"tests imported agent from the source tree ({installed}); install the package "
            "non-editably (scripts/setup-venv.sh dev) or set RATWATCH_ALLOW_SOURCE_TREE=1"
        )


@pytest.fixture
def repo() -> Path:
    """The repository root (for proto/, signatures/ sources, docs/)."""
    return REPO


@pytest.fixture
def shared_dir() -> Path:
    """../shared beside the repository (CONTEXT.md, lolrmm/)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED


@pytest.fixture
def agent_cmd() -> list[str]:
    """Argv prefix that runs the installed ``ratwatch-agent`` in a real child process."""
    return [sys.executable, "-m", "agent"]


@pytest.fixture
def collector_cmd() -> list[str]:
    """Argv prefix that runs the installed ``ratwatch-collector`` in a real child process."""
    return [sys.executable, "-m", "collector"]
