"""The bundled catalogue, the loader's validation and merging, and CatalogueHolder reloads."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from agent.catalogue.loader import (
    CatalogueHolder,
    bundled_paths,
    check_files,
    load_catalogue,
    load_files,
)
from agent.catalogue.model import Catalogue
from agent.errors import Problem, SignatureError
from agent.events import Confidence

DATA = Path(__file__).resolve().parents[2] / "data" / "signatures"
# The start of a one-tool file; tests append the field under test and the closing brace.
TOOL_A = "schema: 1\ntools:\n  - {id: a, name: A, processes: {linux: [a]}"

# Every tool named in ../shared/CONTEXT.md and the issue (PClink and TshareII
# have no public facts; remote_tools.yaml says so).
NAMED = {
    "teamviewer",
    "anydesk",
    "showmypc",
    "windows_remote_assistance",
    "quick_assist",
    "screenconnect",
    "logmein_rescue",
    "goto_resolve",
    "ultraviewer",
    "supremo",
    "anyviewer",
    "rustdesk",
    "aeroadmin",
    "ammyy_admin",
    "zoho_assist",
    "splashtop",
    "helpwire",
    "getscreen",
    "remote_utilities",
    "chrome_remote_desktop",
    "isl_light",
    "netsupport",
    "iperius_remote",
    "remotepc",
    "hoptodesk",
    "tightvnc",
    "ultravnc",
    "realvnc",
    "tigervnc",
    "dwservice",
    "parsec",
    "radmin",
    "dameware",
    "beyondtrust_remote_support",
    "fixme_it",
    "kaseya_vsa",
    "simplehelp",
}


def _line_of(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_catalogue_loads_with_every_named_tool() -> None:
    catalogue = load_catalogue()
    ids = {t.tool_id for t in catalogue.tools}
    assert len(catalogue.tools) >= 60
    assert ids >= NAMED, sorted(NAMED - ids)
    assert catalogue.version >= 2026112101
    assert all(t.confidence is Confidence.HIGH for t in catalogue.tools)
    # The incoming-session indicator from the enterprise rules is carried.
    tv = catalogue.tool("teamviewer")
    assert tv is not None
    assert any(s.args == ("--IPCport", "5939", "--Module", "1") for s in tv.incoming_sessions)
    tactic_ids = {t.tactic_id for t in catalogue.scare_tactics}
    assert {"eventvwr", "msconfig", "syskey", "tree", "netstat", "cipher_wipe", "taskmgr"} <= (
        tactic_ids
    )
    assert catalogue.rules.call_window_minutes == 30
    assert dict(catalogue.rules.levels)["scare_tactic_in_session"] == "alert"


def test_bundled_files_each_validate_alone() -> None:
    for path in bundled_paths():
        assert check_files([path]) == [], path


def test_remote_tools_yaml_says_why_pclink_and_tshareii_are_missing() -> None:
    text = bundled_paths()[0].read_text(encoding="utf-8")
    assert re.search(r"PClink.*\n(#.*\n)*#.*not listed", text, re.I)
    assert "TshareII" in text


def test_broken_file_reports_every_mistake_with_its_line() -> None:
    path = DATA / "broken.yaml"
    problems = check_files([path])
    expected = [
        (_line_of(path, "id: Bad Id"), "tools[0].id"),
        (_line_of(path, "windos:"), "tools[good_tool].processes.windos"),
        (_line_of(path, "70000"), "tools[good_tool].ports[1]"),
        (_line_of(path, "relay-["), "tools[good_tool].domains[0]"),
        (_line_of(path, "colour:"), "tools[good_tool].colour"),
        (_line_of(path, "MISTAKE duplicate id"), "tools[good_tool].id"),
        (_line_of(path, "medium"), "tools[good_tool].confidence"),
        (_line_of(path, "(tree"), "scare_tactics[bad_regex].cmdline[0]"),
        (_line_of(path, "soon"), "rules.call_window_minutes"),
    ]
    assert [(p.line, p.field) for p in problems] == expected
    assert all(p.file == str(path) for p in problems)
    by_field = {p.field: p.message for p in problems}
    assert "valid keys: linux, macos, windows" in by_field["tools[good_tool].processes.windos"]
    assert "viewer_processes" in by_field["tools[good_tool].colour"]
    assert "first defined at line 8" in by_field["tools[good_tool].id"]
    with pytest.raises(SignatureError) as info:
        load_files([path])
    assert len(info.value.problems) == len(expected)
    assert str(info.value).splitlines()[0] == str(problems[0])


@pytest.mark.parametrize(
    ("snippet", "field", "fragment"),
    [
        ("schema: 2\ntools: []\n", "schema", "schema 1 only"),
        ("tools: []\n", "schema", "missing"),
        (
            "schema: 1\ntools:\n  - {id: a, name: A, processes: {windows: [C:\\x\\a.exe]}}\n",
            "tools[a].processes.windows[0]",
            "bare process name",
        ),
        (
            TOOL_A + ", ports: [443]}\n",
            "tools[a].ports[0]",
            "too generic",
        ),
        (TOOL_A + ", ports: ['400-500']}\n", "tools[a].ports[0]", "port 443 is too generic"),
        (TOOL_A + ", ports: ['5999-5900']}\n", "tools[a].ports[0]", "low first"),
        (TOOL_A + ", ports: ['5900-70000']}\n", "tools[a].ports[0]", "within 1..65535"),
        (TOOL_A + ", ports: ['1000-9000']}\n", "tools[a].ports[0]", "more than 1000 ports"),
        (TOOL_A + ", ports: ['vnc']}\n", "tools[a].ports[0]", "range like 5900-5999"),
        (
            TOOL_A + ", files: ['*.exe']}\n",
            "tools[a].files[0]",
            "too broad",
        ),
        (
            TOOL_A + ", domains: ['*.local']}\n",
            "tools[a].domains[0]",
            "too broad",
        ),
        (
            TOOL_A + ", domains: [10.0.0.1]}\n",
            "tools[a].domains[0]",
            "IP address",
        ),
        ("schema: 1\ntools:\n  - {id: a, name: A}\n", "tools[a]", "cannot identify"),
        (
            "schema: 1\ntools:\n  - {id: a, name: A, processes: {linux: a}}\n",
            "tools[a].processes.linux",
            "expected a list",
        ),
        (
            TOOL_A + ", vendor_exclusive: yes please}\n",
            "tools[a].vendor_exclusive",
            "true or false",
        ),
        (
            TOOL_A + ", session_while_running: 1}\n",
            "tools[a].session_while_running",
            "true or false",
        ),
        (
            "schema: 1\npages:\n  - {id: p, kind: lottery, title_phrases: [x]}\n",
            "pages[p].kind",
            "not one of",
        ),
        (
            "schema: 1\nrules:\n  levels: {tool_after_unknown_call: loud}\n",
            "rules.levels.tool_after_unknown_call",
            "not one of",
        ),
        # Level names are exactly the lower-case ones signatures/README.md lists.
        (
            "schema: 1\nrules:\n  levels: {tool_after_unknown_call: ALERT}\n",
            "rules.levels.tool_after_unknown_call",
            "not one of",
        ),
        (
            "schema: 1\nrules:\n  levels: {tool_after_unknown_call: 'off'}\n",
            "rules.levels.tool_after_unknown_call",
            "not one of",
        ),
        (
            "schema: 1\nrules:\n  levels: {tool_after_unknown_calls: none}\n",
            "rules.levels.tool_after_unknown_calls",
            "unknown rule 'tool_after_unknown_calls'; known rules: ",
        ),
        ("schema: 1\nrules:\n  trust_hours: 100000\n", "rules.trust_hours", "out of range"),
        ("schema: 1\nschema: 1\n", "schema", "given twice"),
        (
            "schema: 1\ntools:\n  - {id: a, name: A, processes: {linux: [a, b, a]}}\n",
            "tools[a].processes.linux[2]",
            "listed twice",
        ),
        ("schema: 1\ntools: [\n", "yaml", "not valid YAML"),
        (
            'schema: 1\ntools:\n  - {id: "evil\\n", name: E, processes: {linux: [e]}}\n',
            "tools[0].id",
            "not a valid id",
        ),
        (
            "schema: 1\ntools:\n  - {id: ratwatch.dropped, name: E, processes: {linux: [e]}}\n",
            "tools[ratwatch.dropped].id",
            "reserved",
        ),
        (
            TOOL_A + ', domains: ["relay.example.com\\n"]}\n',
            "tools[a].domains[0]",
            "not a host name",
        ),
    ],
)
def test_single_mistakes_are_named(tmp_path: Path, snippet: str, field: str, fragment: str) -> None:
    problems = check_files([_write(tmp_path, "one.yaml", snippet)])
    assert any(p.field == field and fragment in p.message for p in problems), problems
    assert all(p.line >= 1 for p in problems)


def test_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problems = check_files([tmp_path / "absent.yaml"])
    assert problems == [Problem(str(tmp_path / "absent.yaml"), 0, "file", "not found")]


def test_exclusive_vendor_name_claimed_twice_is_an_error(tmp_path: Path) -> None:
    text = (
        "schema: 1\ntools:\n"
        "  - {id: a, name: A, processes: {linux: [a]}, signers: [Same], vendor_exclusive: true}\n"
        "  - {id: b, name: B, processes: {linux: [b]}, signers: [Same], vendor_exclusive: true}\n"
    )
    problems = check_files([_write(tmp_path, "x.yaml", text)])
    assert [(p.line, p.field) for p in problems] == [(4, "tools[b].vendor_exclusive")]


def test_extra_file_adds_tools_skips_known_ids_and_overrides_rules(tmp_path: Path) -> None:
    extra = _write(
        tmp_path,
        "extra.yaml",
        "schema: 1\n"
        "version: 1\n"
        "tools:\n"
        "  - {id: anydesk, name: AnyDesk (import), processes: {windows: [x]}, confidence: low}\n"
        "  - {id: newtool, name: New Tool, processes: {windows: [newtool.exe]}, confidence: low}\n"
        "rules:\n"
        "  call_window_minutes: 60\n",
    )
    catalogue = load_catalogue([extra])
    anydesk = catalogue.tool("anydesk")
    assert anydesk is not None and anydesk.confidence is Confidence.HIGH
    assert anydesk.display_name == "AnyDesk"
    new = catalogue.tool("newtool")
    assert new is not None and new.confidence is Confidence.LOW
    assert catalogue.rules.call_window_minutes == 60
    assert catalogue.rules.scareware_window_minutes == 30  # untouched keys keep the bundled value
    assert catalogue.version == load_catalogue().version  # the bundled version governs
    assert len(catalogue.notes) == 1
    assert catalogue.notes[0].startswith(f"{extra}:4: tools[anydesk] skipped")


def _holder_files(tmp_path: Path) -> Path:
    return _write(
        tmp_path,
        "extra.yaml",
        "schema: 1\ntools:\n  - {id: first, name: First, processes: {linux: [first]}}\n",
    )


def _bump(path: Path, text: str) -> None:
    """Rewrite with a new mtime even on coarse-mtime file systems."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_holder_reloads_a_changed_file(tmp_path: Path) -> None:
    extra = _holder_files(tmp_path)
    holder = CatalogueHolder([extra])
    first = holder.current()
    assert first.tool("first") is not None
    assert holder.maybe_reload() == []  # unchanged: nothing reloaded
    assert holder.current() is first
    _bump(extra, "schema: 1\ntools:\n  - {id: second, name: Second, processes: {linux: [s]}}\n")
    assert holder.maybe_reload() == []
    now = holder.current()
    assert now is not first
    assert now.tool("second") is not None and now.tool("first") is None


def test_holder_keeps_the_last_good_set_on_a_broken_update(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = _holder_files(tmp_path)
    holder = CatalogueHolder([extra])
    good = holder.current()
    _bump(
        extra,
        "schema: 1\ntools:\n  - {id: first, name: First, processes: {linux: [f]}, ports: [0]}\n",
    )
    with caplog.at_level(logging.ERROR, logger="agent.catalogue.loader"):
        problems = holder.maybe_reload()
    assert [(p.line, p.field) for p in problems] == [(3, "tools[first].ports[0]")]
    assert holder.current() is good
    assert holder.problems == problems
    message = caplog.text
    assert "signature update rejected (1 problems); keeping the last good set" in message
    assert f"version {good.version} with {len(good.tools)} tools" in message
    assert "ports[0]" in message
    # Not retried (nor logged again) until the file changes once more.
    caplog.clear()
    assert holder.maybe_reload() == []
    assert caplog.text == ""
    _bump(extra, "schema: 1\ntools:\n  - {id: fixed, name: Fixed, processes: {linux: [f]}}\n")
    assert holder.maybe_reload() == []
    assert holder.current().tool("fixed") is not None


def test_holder_starts_on_bundled_content_when_an_extra_file_is_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = _write(tmp_path, "extra.yaml", "schema: 1\ntools: {not: a list}\n")
    with caplog.at_level(logging.ERROR, logger="agent.catalogue.loader"):
        holder = CatalogueHolder([extra])
    catalogue = holder.current()
    assert isinstance(catalogue, Catalogue)
    assert len(catalogue.tools) == len(load_catalogue().tools)
    assert [p.field for p in holder.problems] == ["tools"]
    assert "keeping the last good set: the bundled signatures only" in caplog.text


def test_holder_log_lines_hide_the_home_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    extra = _write(tmp_path, "mine.yaml", "schema: 1\ntools: 3\n")
    with caplog.at_level(logging.ERROR, logger="agent.catalogue.loader"):
        CatalogueHolder([extra])
    assert "~/mine.yaml:2: tools" in caplog.text
    assert str(tmp_path) not in caplog.text


def test_phrases_keep_their_spaces(tmp_path: Path) -> None:
    """A leading space is a word boundary for a title phrase; the loader must not strip it."""
    path = _write(
        tmp_path,
        "pages.yaml",
        "schema: 1\npages:\n"
        "  - {id: p, kind: scareware, title_phrases: [' scam', 'scam '], exclude_hosts: [a.nl]}\n",
    )
    page = load_files([path]).pages[0]
    assert page.title_phrases == (" scam", "scam ")


def test_session_while_running_is_set_where_a_running_process_means_a_session() -> None:
    """Only tools started for one session and closed with it; never one that runs idle."""
    catalogue = load_catalogue()
    flagged = {t.tool_id for t in catalogue.tools if t.session_while_running}
    # x2goagent runs only for an X2Go session (started over SSH by the client).
    assert flagged == {"quick_assist", "windows_remote_assistance", "x2go"}


def test_port_ranges_load_and_match(tmp_path: Path) -> None:
    path = tmp_path / "ranges.yaml"
    path.write_text(TOOL_A + ", ports: ['5900-5999', 5500, ' 6000 - 6001 ']}\n")
    tool = load_files([path]).tool("a")
    assert tool is not None
    assert [str(r) for r in tool.ports] == ["5900-5999", "5500", "6000-6001"]
    assert all(tool.has_port(p) for p in (5900, 5901, 5999, 5500, 6001))
    assert not any(tool.has_port(p) for p in (5899, 6002, 5501, 0))


# Debian 12's remote-desktop servers (apt-cache search; names from dpkg -c of each
# package): each real process name identifies a tool, and each VNC server's
# listener on 5900 + display is one of its ports.
DEBIAN_SERVERS = {
    "Xtigervnc": ("tigervnc", 5901),
    "X0tigervnc": ("tigervnc", 5900),
    "x0vncserver": ("tigervnc", 5900),
    "tigervncserver": ("tigervnc", 5942),
    "Xtightvnc": ("tightvnc", 5901),
    "tightvncserver": ("tightvnc", 5901),
    "x11vnc": ("x11vnc", 5900),
    "krfb": ("krfb", 5900),
    "vino-server": ("vino", 5900),
    "gnome-remote-desktop-daemon": ("gnome_remote_desktop", 3389),
    "wayvnc": ("wayvnc", 5900),
    "xrdp": ("xrdp", 3389),
    "freerdp-shadow-cli": ("freerdp_shadow", 3389),
    "x2goagent": ("x2go", None),
    "x2godesktopsharing": ("x2go_desktop_sharing", None),
    "xpra": ("xpra", 14500),
    "Xspice": ("xspice", 5900),
}


@pytest.mark.parametrize("name", sorted(DEBIAN_SERVERS))
def test_every_debian_remote_desktop_server_is_known(name: str) -> None:
    from agent.identify.tools import identify_process

    catalogue = load_catalogue()
    tool_id, port = DEBIAN_SERVERS[name]
    match = identify_process(
        catalogue, os_name="linux", name=name, exe=f"/usr/bin/{name}", cmdline=(name,), pe=None
    )
    assert match is not None and match.tool_id == tool_id
    tool = catalogue.tool(tool_id)
    assert tool is not None
    if port is not None:
        assert tool.has_port(port)
