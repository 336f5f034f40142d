"""Whether an agent is running on a state directory: a lock it holds while it runs.

``ratwatch-agent signal`` writes into ``<state dir>/inbox/``; if no agent
watches that directory (a different ``--config``, a typo in ``--state-dir``,
the agent not started), the signal would sit there unread while the command
said "queued for the agent". The running agent therefore holds an exclusive
lock on ``<state dir>/agent.lock`` (``filelock``: ``fcntl.flock`` on POSIX,
``msvcrt.locking`` on Windows; the OS drops it when the process dies, so a
crashed agent leaves no stale claim, unlike a pid file). Anyone can ask
whether it is held by trying to take it without waiting.

Holding it also keeps a second agent off the same state directory: two
agents would both take each inbox file and journal every verdict twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from agent.errors import AgentAlreadyRunning

LOCK_NAME = "agent.lock"


def lock_path(state_dir: Path) -> Path:
    """The lock file a running agent holds in ``state_dir``."""
    return state_dir / LOCK_NAME


@contextlib.contextmanager
def hold(state_dir: Path) -> Iterator[None]:
    """Hold the state directory for as long as the block runs (the agent's whole run)."""
    lock = FileLock(lock_path(state_dir), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise AgentAlreadyRunning(
            f"another ratwatch agent is already running on the state directory {state_dir}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def agent_running(state_dir: Path) -> bool:
    """Whether an agent holds ``state_dir`` right now."""
    path = lock_path(state_dir)
    if not path.exists():
        return False
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False
