"""Login items on all three OSes, written as real files under tmp_path.

Linux and macOS writers are exercised for real (files, plistlib). The Windows
writer's task XML is rendered and parsed for real; only ``schtasks.exe`` (a
Windows API) is replaced by a small fake that keeps the registered XML.
"""

from __future__ import annotations

import configparser
import plistlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from agent.autostart.base import LoginItem
from agent.autostart.launchd import LaunchAgent
from agent.autostart.taskscheduler import (
    TASK_NAME,
    TASK_NS,
    ScheduledTask,
    split_windows_command_line,
)
from agent.autostart.writers import agent_argv, writer_for
from agent.autostart.xdg import XdgAutostart, desktop_exec, parse_desktop_exec
from agent.cli import main

ITEM = LoginItem(
    (
        "/opt/ratwatch venv/bin/python",
        "-m",
        "agent",
        "run",
        "--config",
        '/home/jan/100% "safe"/agent.toml',
    )
)


def test_xdg_entry_honours_xdg_config_home(tmp_path: Path) -> None:
    writer = XdgAutostart(tmp_path / "home", {"XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    where = writer.install(ITEM)
    assert where == str(tmp_path / "cfg" / "autostart" / "ratwatch-agent.desktop")
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(where, encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["X-GNOME-Autostart-enabled"] == "true"
    assert desktop["Terminal"] == "false"
    status = writer.status()
    assert status.installed and status.argv == ITEM.argv  # quoting round-trips
    assert writer.remove() and not writer.status().installed
    assert not writer.remove()


def test_xdg_defaults_to_dot_config_and_ignores_a_relative_value(tmp_path: Path) -> None:
    for env in ({}, {"XDG_CONFIG_HOME": "relative/dir"}):
        writer = XdgAutostart(tmp_path, env)
        assert writer.path == tmp_path / ".config" / "autostart" / "ratwatch-agent.desktop"


def test_desktop_exec_quoting_follows_the_spec() -> None:
    assert desktop_exec(["/usr/bin/python3", "-m", "agent"]) == "/usr/bin/python3 -m agent"
    value = desktop_exec(["/a b/py", 'x"y', "50%", "c$d"])
    assert value == '"/a b/py" "x\\\\"y" 50%% "c\\\\$d"'
    assert parse_desktop_exec(value) == ("/a b/py", 'x"y', "50%", "c$d")


def test_launch_agent_plist(tmp_path: Path) -> None:
    writer = LaunchAgent(tmp_path)
    where = writer.install(ITEM)
    assert where == str(tmp_path / "Library" / "LaunchAgents" / "org.ratwatch.agent.plist")
    data = plistlib.loads(Path(where).read_bytes())
    assert data["Label"] == "org.ratwatch.agent"
    assert data["ProgramArguments"] == list(ITEM.argv)
    assert data["RunAtLoad"] is True
    assert data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["LimitLoadToSessionType"] == "Aqua"
    assert writer.status().argv == ITEM.argv
    assert writer.remove() and not writer.status().installed


class FakeSchtasks:
    """Stands in for schtasks.exe (Windows only): keeps the XML registered with /Create."""

    def __init__(self) -> None:
        self.registered: bytes | None = None
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = list(args)
        self.calls.append(args)
        ok = subprocess.CompletedProcess(args, 0, "", "")
        missing = subprocess.CompletedProcess(args, 1, "", "ERROR: The system cannot find the file")
        if args[0] == "/Create":
            assert args[1:3] == ["/TN", TASK_NAME] and "/F" in args
            self.registered = Path(args[args.index("/XML") + 1]).read_bytes()
            return ok
        if args[0] == "/Delete":
            self.registered = None
            return ok
        if args[0] == "/Query":
            if self.registered is None:
                return missing
            return subprocess.CompletedProcess(args, 0, self.registered.decode("utf-16"), "")
        raise AssertionError(args)


def test_windows_task_xml_and_registration(tmp_path: Path) -> None:
    argv = (
        r"C:\Program Files\Python311\pythonw.exe",
        "-m",
        "agent",
        "run",
        "--config",
        r"C:\Users\Jan de Vries\AppData\Roaming\ratwatch\agent.toml",
    )
    fake = FakeSchtasks()
    writer = ScheduledTask("PC\\jan", runner=fake)
    xml = writer.render(LoginItem(argv))
    assert xml.startswith(b"\xff\xfe")  # UTF-16 LE with BOM, as schtasks /XML wants
    (tmp_path / "task.xml").write_bytes(xml)
    root = ET.parse(tmp_path / "task.xml").getroot()  # a real XML parser reads it
    ns = {"t": TASK_NS}
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", ns).text == "PC\\jan"  # type: ignore[union-attr]
    assert root.find("t:Principals/t:Principal/t:LogonType", ns).text == "InteractiveToken"  # type: ignore[union-attr]
    assert root.find("t:Settings/t:ExecutionTimeLimit", ns).text == "PT0S"  # type: ignore[union-attr]
    assert root.find("t:Actions/t:Exec/t:Command", ns).text == argv[0]  # type: ignore[union-attr]

    assert not writer.status().installed
    writer.install(LoginItem(argv))
    status = writer.status()
    assert status.installed and status.argv == argv  # backslashes and spaces survive
    assert writer.remove()
    assert not writer.status().installed
    assert not writer.remove()
    assert [c[0] for c in fake.calls] == [
        "/Query",
        "/Create",
        "/Query",
        "/Query",
        "/Delete",
        "/Query",
        "/Query",
    ]


def test_windows_command_line_round_trip() -> None:
    for argv in (["a b", 'q"uote', "trail\\", "", r"C:\x\y"], ["-m", "agent"]):
        assert split_windows_command_line(subprocess.list2cmdline(argv)) == argv


def test_agent_argv_passes_config_and_state_dir(tmp_path: Path) -> None:
    argv = agent_argv(tmp_path / "a.toml", tmp_path / "state", os_name="linux")
    assert argv[0] == sys.executable
    assert argv[1:4] == ("-m", "agent", "run")
    assert argv[4:] == (
        "--config",
        str(tmp_path / "a.toml"),
        "--state-dir",
        str(tmp_path / "state"),
    )


def test_writer_registry_covers_three_oses(tmp_path: Path) -> None:
    assert isinstance(writer_for("linux", tmp_path, {}), XdgAutostart)
    assert isinstance(writer_for("macos", tmp_path, {}), LaunchAgent)
    assert isinstance(writer_for("windows", tmp_path, {"USERNAME": "jan"}), ScheduledTask)


@pytest.mark.skipif(sys.platform != "linux", reason="the CLI writes this OS's login item")
def test_cli_install_status_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nlanguage = "nl"\n')
    runner = CliRunner()

    result = runner.invoke(main, ["autostart", "status"])
    assert result.exit_code == 0 and "not installed" in result.output

    result = runner.invoke(main, ["autostart", "install", "--config", str(config)])
    assert result.exit_code == 0, result.output
    desktop = tmp_path / "xdg" / "autostart" / "ratwatch-agent.desktop"
    assert desktop.is_file()
    assert f"--config {config}" in desktop.read_text()

    result = runner.invoke(main, ["autostart", "status"])
    assert result.exit_code == 0 and "installed:" in result.output and "agent run" in result.output

    result = runner.invoke(main, ["autostart", "remove"])
    assert result.exit_code == 0 and "removed" in result.output
    assert not desktop.exists()


def test_cli_refuses_a_broken_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    config = tmp_path / "agent.toml"
    config.write_text("[agent]\nlanguge = 'nl'\n")
    result = CliRunner().invoke(main, ["autostart", "install", "--config", str(config)])
    assert result.exit_code != 0
    assert "languge" in result.output
    assert not (tmp_path / "xdg" / "autostart").exists()
