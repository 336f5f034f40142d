"""Shared test fixtures.

The suite runs against the *installed* ratwatch (scripts/test.sh installs it
non-editably), so a module or data file missing from the package fails here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent
from agent.sensors.base import THREAD_PREFIX

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


class HandClock:
    """An injected wall clock the test moves by hand (no sleeping for hours).

    One for the whole suite: the correlator, the warning lifecycle, the outbox,
    the reporter and the runtime all take a ``Callable[[], float]``.
    """

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move on by ``seconds`` and return the new time."""
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> HandClock:
    """A ``HandClock`` at the real current time."""
    return HandClock()


LEAK_GRACE_SECONDS = 2.0  # a thread told to stop may take a moment to end


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves one of the agent's threads (named ``ratwatch-*``) running."""
    before = set(threading.enumerate())
    yield

    def leaked() -> list[str]:
        return [
            t.name
            for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name.startswith(THREAD_PREFIX)
        ]

    deadline = time.monotonic() + LEAK_GRACE_SECONDS
    while leaked() and time.monotonic() < deadline:
        time.sleep(0.02)
    if leaked():
        pytest.fail(f"threads left running after the test: {leaked()}")
