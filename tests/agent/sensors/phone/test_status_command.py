"""``ratwatch-agent phone status`` as a child process, against the stand-in on a real bus."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


def _status(agent_cmd: list[str], state: Path, address: str) -> str:
    env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": address}
    done = subprocess.run(
        [*agent_cmd, "phone", "status", "--state-dir", str(state)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_status_tells_the_helper_what_the_agent_hears(
    agent_cmd: list[str], session_bus: Any, standin: Any, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    first = _status(agent_cmd, state, session_bus.address)
    assert "KDE Connect: KDE Connect runs, but no phone is paired" in first
    assert "Last call seen: none yet." in first
    standin.send(op="pair", id="p1", name="Pixel 7")
    (state / "phone-status.json").write_text(json.dumps({
        "last_call": {"at": time.time() - 12 * 60, "caller": "unknown",
                      "phase": "ringing", "source": "kdeconnect"}
    }))
    out = _status(agent_cmd, state, session_bus.address)
    assert "[yes] KDE Connect: 1 phone(s) paired" in out
    assert "paired: Pixel 7" in out
    assert "contacts readable: not known yet" in out
    assert (
        "Last call seen: from a number that is not in your contacts, 12 minutes ago "
        "(KDE Connect)." in out
    )


def test_status_without_kde_connect(agent_cmd: list[str], session_bus: Any, tmp_path: Path) -> None:
    out = _status(agent_cmd, tmp_path / "state", session_bus.address)
    assert "[no ] KDE Connect: KDE Connect is not running on this PC" in out
