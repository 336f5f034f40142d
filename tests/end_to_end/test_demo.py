"""The demo as a new user runs it: one command, under a minute, a warning and a counted table.

``scripts/demo.sh`` installs ratwatch into a fresh ``./.venv`` and runs the
``ratwatch-agent demo`` entry point of that environment; the test suite itself
runs from such a fresh, non-editable install (scripts/test.sh), so this test
runs that same entry point in a child process with an empty home and temp
directory and no display (so the console warning is chosen, as on a server or
in CI). Then it checks what the user sees, and that the demo left nothing
behind: no file outside the temp directory it named, no process running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def _entry_point() -> list[str]:
    script = Path(sys.executable).with_name("ratwatch-agent")
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent"]


def test_the_demo_shows_the_warning_and_the_counted_table_and_cleans_up(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DISPLAY", "WAYLAND"))}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    started = time.monotonic()
    out = subprocess.run(
        [*_entry_point(), "demo"],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    elapsed = time.monotonic() - started
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    print(text)
    assert elapsed < 60, f"the demo took {elapsed:.0f} s"
    work = re.search(r"Everything is written under (\S+)", text)
    assert work is not None and work.group(1).startswith(str(tmp)), text
    # What the person at the PC sees.
    assert "STOP — SOMEONE MAY BE TAKING OVER YOUR COMPUTER" in text
    assert "AnyDesk was started during a phone call from an unknown number." in text
    # The table at the end: the stand-in counted once, after an unknown call, and it
    # says which view it is (the operator's raw view; today is in no release yet).
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("AnyDesk")]
    assert rows and rows[0][1] == "unknown_call" and rows[0][4] == "1", text
    assert "The operator's raw view of this demo collector" in text
    assert "RAW TALLIES - NOT FOR PUBLICATION" in text
    assert "Analysts never see this raw view: they get releases" in text
    # The analysts' dashboard, signed in with the demo's analyst token, shows releases
    # only: today's count is in none yet, and the demo says so.
    shown = re.search(
        r"The analysts' dashboard at (http://127\.0\.0\.1:\d+/)\S* shows releases only", text
    )
    assert shown is not None, text
    collector_at = re.search(r"listening on (127\.0\.0\.1:\d+)", text)
    assert collector_at is not None
    # Nothing left behind.
    assert not Path(work.group(1)).exists()
    assert list(tmp.iterdir()) == [] and list(home.iterdir()) == []
    leftovers = []
    for proc in psutil.process_iter(["cmdline", "exe"]):
        joined = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["exe"] or "")
        if work.group(1) in joined or collector_at.group(1) in joined:
            leftovers.append(joined)
    assert leftovers == []


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if text in " ".join(p.info["cmdline"] or []):
                found.append(p)
    return found


def test_a_terminated_demo_still_cleans_up(tmp_path: Path) -> None:
    """SIGTERM while the warning holds the stand-in: everything stops, the temp dir goes."""
    import select
    import signal

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DISPLAY", "WAYLAND"))}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*_entry_point(), "demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and "Type 1, 2 or 3" not in seen:
            if select.select([proc.stdout], [], [], 0.5)[0]:
                line = proc.stdout.readline()
                if not line:
                    break
                seen += line
        assert "Type 1, 2 or 3" in seen, seen
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    work = re.search(r"Everything is written under (\S+)", seen)
    assert work is not None
    leftovers = _processes_mentioning(work.group(1))
    for p in leftovers:  # so a failure here does not leave them running
        with contextlib.suppress(psutil.Error):
            p.resume()
            p.kill()
    assert status == 128 + signal.SIGTERM
    assert leftovers == []
    assert not Path(work.group(1)).exists() and list(tmp.iterdir()) == []


def test_scripts_demo_sh_runs_the_demo() -> None:
    """The README's first command: it installs, then runs the demo entry point."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "demo.sh"
    text = script.read_text()
    assert "scripts/setup-venv.sh" in text and ".venv/bin/ratwatch-agent demo" in text
    assert shutil.which("bash") is not None
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, check=False)
    assert check.returncode == 0, check.stderr


@pytest.mark.skipif(
    shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
    reason="needs Xvfb and xdotool (scripts/test.sh installs them)",
)
def test_the_demo_with_a_display_shows_the_tk_window_and_finishes_unattended(
    tmp_path: Path,
) -> None:
    """With a display the warning is a real Tk window; nobody clicks, so the demo presses Enter."""
    from agent.demo.xvfb import VirtualDisplay

    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "WAYLAND"))}
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path))
    with VirtualDisplay() as display:
        env["DISPLAY"] = display
        out = subprocess.run(
            [*_entry_point(), "demo"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "the red window" in text and "pressed Enter" in text
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("AnyDesk")]
    assert rows and rows[0][1] == "unknown_call" and rows[0][2] == "scare_tactics", text
    assert list(tmp_path.iterdir()) == []


_REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    os.environ.get("RATWATCH_SKIP_FRESH_CLONE") == "1"
    or shutil.which("git") is None
    or not (_REPO / ".git").exists(),
    reason="needs a git checkout (RATWATCH_SKIP_FRESH_CLONE=1 skips it: it pip-installs a .venv)",
)
def test_the_readme_command_in_a_fresh_clone(tmp_path: Path) -> None:
    """Exactly the newcomer's path: git clone, `bash scripts/demo.sh`, nothing else.

    Clones the committed HEAD, so it checks what a newcomer would get; the pip
    install uses the registry (or pip's cache) like the newcomer's would.
    """
    repo = _REPO
    clone = tmp_path / "ratwatch"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPLAY", "WAYLAND"))}
    env.pop("VIRTUAL_ENV", None)
    out = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "STOP — SOMEONE MAY BE TAKING OVER YOUR COMPUTER" in text
    finished = re.search(r"Demo finished in (\d+) s", text)
    assert finished is not None and int(finished.group(1)) < 60, text
    assert any(line.strip().startswith("AnyDesk") for line in text.splitlines()), text
