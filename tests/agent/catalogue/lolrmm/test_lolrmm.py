"""import-lolrmm against the real LOLRMM snapshot in ../shared/lolrmm (never copied here)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.catalogue.loader import check_files, load_catalogue, load_files
from agent.catalogue.lolrmm.convert import convert, import_lolrmm, render
from agent.catalogue.lolrmm.policy import skip_reason
from agent.catalogue.model import Catalogue
from agent.errors import LolrmmError
from agent.events import Confidence
from agent.identify.tools import identify_process

_PATTERN_CHARS = re.compile(r"[\[\]{}()\\+^$|?]")


_CACHE: dict[Path, tuple[Path, dict[str, Any]]] = {}


@pytest.fixture
def imported(
    shared_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The real LOLRMM snapshot converted once per test session (it takes a second)."""
    source = shared_dir / "lolrmm"
    if source not in _CACHE:
        out = tmp_path_factory.mktemp("lolrmm") / "lolrmm.yaml"
        import_lolrmm(source, out)
        _CACHE[source] = (out, yaml.safe_load(out.read_text(encoding="utf-8")))
    return _CACHE[source]


def _tools(imported: tuple[Path, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in imported[1]["tools"]}


def test_output_validates_and_loads_beside_the_bundled_catalogue(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    out, doc = imported
    assert check_files([out]) == []
    alone = load_files([out])
    assert len(alone.tools) == len(doc["tools"]) >= 100
    assert {t.confidence for t in alone.tools} == {Confidence.LOW}
    assert not any(t.vendor_exclusive for t in alone.tools)
    both = load_catalogue([out])
    # Overlapping ids are skipped with a note, never an error; curated entries stay.
    assert both.notes
    assert all("skipped: already defined at" in n for n in both.notes)
    anydesk = both.tool("anydesk")
    assert anydesk is not None and anydesk.confidence is Confidence.HIGH
    assert len(both.tools) > len(load_catalogue().tools)


def test_enterprise_tunnel_transfer_and_terminal_tools_are_not_kept(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    tools = _tools(imported)
    names = {t["name"].lower() for t in tools.values()}
    for absent in (
        "putty",
        "winscp",
        "syncthing",
        "ngrok",
        "tailscale",
        "zerotier",
        "kitty",
        "mobaxterm",
        "cloudflare tunnel",
        "s3 browser",
        "freerdp",
        "rdcman",
        "zabbix agent",
        "synergy",
    ):
        assert absent not in names, absent
    for absent_id in ("putty", "winscp", "syncthing", "ngrok"):
        assert absent_id not in tools
    all_names = {
        n.lower() for t in tools.values() for ns in t.get("processes", {}).values() for n in ns
    }
    for binary in (
        "putty.exe",
        "winscp.exe",
        "syncthing.exe",
        "ngrok.exe",
        "mstsc.exe",
        "vncviewer.exe",
    ):
        assert binary not in all_names, binary


def test_teamviewer_and_anydesk_are_kept_with_low_confidence(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    tools = _tools(imported)
    for tool_id, process in (("teamviewer", "teamviewer_service.exe"), ("anydesk", "anydesk.exe")):
        tool = tools[tool_id]
        assert tool["confidence"] == "low"
        assert process in [n.lower() for n in tool["processes"]["windows"]]
    # The regex domain relay-[a-f0-9]{8}.net.anydesk.com:443 became a wildcard.
    assert "*.net.anydesk.com" in tools["anydesk"]["domains"]


def test_no_regex_glob_ip_or_placeholder_garbage_in_domains(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    for tool in imported[1]["tools"]:
        for domain in tool.get("domains", []):
            assert not _PATTERN_CHARS.search(domain), (tool["id"], domain)
            assert "*" not in domain[1:], (tool["id"], domain)
            assert ":" not in domain and "." in domain, (tool["id"], domain)
            assert not re.fullmatch(r"[\d.]+", domain), (tool["id"], domain)
            assert domain not in ("*.local", "user_managed"), (tool["id"], domain)
            assert not domain.endswith((".amazonaws.com", ".windows.net")) or not domain.startswith(
                "*."
            )
        for port in tool.get("ports", []):
            assert port not in (80, 443)


def test_duplicates_are_merged_and_bad_signers_dropped(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    tools = _tools(imported)
    quick = [t for t in tools.values() if "quick assist" in t["name"].lower()]
    assert len(quick) == 1
    assert "microsoft_quick_assist.yaml" in quick[0]["notes"]
    assert "quickassist.yaml" in quick[0]["notes"]
    # LOLRMM's Quick Assist signer names are not Microsoft's; they are not carried over.
    assert "signers" not in quick[0]
    splashtop = [t for t in tools.values() if t["name"].lower().startswith("splashtop")]
    assert len(splashtop) == 1
    simplehelp = [t for t in tools.values() if t["name"] == "SimpleHelp"]
    assert len(simplehelp) == 1
    signers = {s for t in tools.values() for s in t.get("signers", [])}
    assert not signers & {"CodeSigningMico", "GlobalSigningDig", ".NET", "win.rar GmbH"}


def test_imported_tool_identifies_a_process_with_low_confidence(
    imported: tuple[Path, dict[str, Any]],
) -> None:
    catalogue: Catalogue = load_catalogue([imported[0]])
    bundled = load_catalogue()
    bundled_names = {n.lower() for t in bundled.tools for _, ns in t.process_names for n in ns}
    # A tool only LOLRMM knows (Pcvisit, say): matched, but LOW.
    only_imported = [
        t
        for t in load_files([imported[0]]).tools
        if bundled.tool(t.tool_id) is None
        and t.names_for("windows")
        and not {n.lower() for n in t.names_for("windows")} & bundled_names
    ]
    assert len(only_imported) > 50
    for tool in only_imported:
        name = tool.names_for("windows")[0]
        match = identify_process(
            catalogue, os_name="windows", name=name, exe="", cmdline=(), pe=None
        )
        assert match is not None, name
        assert match.confidence is Confidence.LOW, (name, match)
    # Where both know a tool, the curated entry answers.
    tv = identify_process(
        catalogue, os_name="windows", name="teamviewer_service.exe", exe="", cmdline=(), pe=None
    )
    assert tv is not None and (tv.tool_id, tv.confidence) == ("teamviewer", Confidence.HIGH)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"Name": "PuTTY", "Category": "RAT"}, "terminal or SSH tool"),
        ({"Name": "WinSCP", "Category": "RAT"}, "file transfer, sync or storage"),
        ({"Name": "ngrok", "Category": "RAT"}, "tunnel or VPN"),
        ({"Name": "Some New SSH Manager", "Category": "RMM"}, "name says ssh"),
        (
            {
                "Name": "Mystery Admin",
                "Category": "RAT",
                "Description": "Mystery Admin is a remote monitoring and management (RMM) tool.",
            },
            "RAT category without remote-desktop evidence",
        ),
    ],
)
def test_skip_policy(doc: dict[str, Any], reason: str) -> None:
    assert skip_reason(doc) == reason


@pytest.mark.parametrize(
    "doc",
    [
        {"Name": "AnyDesk", "Category": "RMM"},
        {"Name": "Mystery VNC", "Category": "RAT"},
        {"Name": "X", "Category": "RAT", "Details": {"Capabilities": ["Remote Control"]}},
    ],
)
def test_keep_policy(doc: dict[str, Any]) -> None:
    assert skip_reason(doc) is None


def _entry(tmp_path: Path, name: str, body: dict[str, Any]) -> None:
    folder = tmp_path / "yaml"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(body), encoding="utf-8")


def test_data_repairs_on_a_small_source(tmp_path: Path) -> None:
    _entry(
        tmp_path,
        "demo.yaml",
        {
            "Name": "Demo Desk",
            "Category": "RMM",
            "Description": "x",
            "Details": {
                "Website": "https://www.demodesk.example/",
                "PEMetadata": [
                    {"Filename": "DemoDesk.exe", "OriginalFileName": "DemoDesk.exe"},
                    {"Filename": "agent.exe"},
                ],
                "InstallationPaths": [
                    "C:\\Program Files\\DemoDesk\\DemoDeskSvc.exe",
                    "DemoDesk_Setup*.exe",
                    "/Applications/Demo Desk.app",
                ],
            },
            "Artifacts": {
                "Network": [
                    {
                        "Description": "n",
                        "Ports": [443, "7070", "x"],
                        "Domains": [
                            "relay-[0-9]+.demodesk.example:443",
                            "user_managed",
                            "*.local",
                            "10.1.2.3",
                            "api.demodesk.example",
                        ],
                    }
                ]
            },
            "CodeSigning": {
                "certificates": [
                    {"signer_name": "GlobalSigningDig"},
                    {"signer_name": "Demo Desk B.V."},
                ]
            },
        },
    )
    _entry(
        tmp_path,
        "demo_desk_(beta).yaml",
        {
            "Name": "Demo Desk (Beta)",
            "Category": "RMM",
            "Description": "x",
            "Details": {"PEMetadata": {"Filename": "DemoDeskBeta.exe"}},
        },
    )
    _entry(
        tmp_path,
        "nothing.yaml",
        {"Name": "Nothing Here", "Category": "RMM", "Description": "x", "Details": {}},
    )
    _entry(tmp_path, "putty.yaml", {"Name": "PuTTY", "Category": "RAT", "Description": "x"})
    (tmp_path / "yaml" / "broken.yaml").write_text("Name: [unclosed\n")
    tools, report = convert(tmp_path, viewers=frozenset())
    assert [t["id"] for t in tools] == ["demo"]
    demo = tools[0]
    assert demo["processes"] == {
        "windows": ["DemoDesk.exe", "DemoDeskSvc.exe", "DemoDeskBeta.exe"],
        "macos": ["Demo Desk"],
    }
    assert demo["files"] == ["DemoDesk_Setup*.exe"]
    assert demo["pe"] == {"original_filename": ["DemoDesk.exe"]}
    assert demo["domains"] == ["*.demodesk.example", "api.demodesk.example"]
    assert demo["ports"] == [7070]
    assert demo["signers"] == ["Demo Desk B.V."]
    assert demo["vendor_hosts"] == ["demodesk.example"]
    assert demo["confidence"] == "low"
    assert (report.entries, report.kept, report.merged) == (5, 1, 1)
    assert report.skipped == {
        "terminal or SSH tool": 1,
        "unreadable file": 1,
        "nothing to match a process on": 1,
    }
    assert report.repaired["generic process name dropped"] == 1
    assert report.repaired["implausible signer dropped"] == 1
    assert report.repaired["domain regex/glob made a wildcard"] == 1
    assert check_files([_write_render(tmp_path, tools)]) == []


def _write_render(tmp_path: Path, tools: list[dict[str, Any]]) -> Path:
    out = tmp_path / "out.yaml"
    out.write_text(render(tools, tmp_path), encoding="utf-8")
    return out


def test_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LolrmmError, match="not a folder"):
        import_lolrmm(tmp_path / "absent", tmp_path / "out.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LolrmmError, match=r"no \*\.yaml"):
        import_lolrmm(tmp_path / "empty", tmp_path / "out.yaml")
    assert not (tmp_path / "out.yaml").exists()


def test_command_line_import_prints_a_summary(
    agent_cmd: list[str], shared_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lolrmm.yaml"
    result = subprocess.run(
        [*agent_cmd, "signatures", "import-lolrmm", str(shared_dir / "lolrmm"), str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert re.match(
        r"319 LOLRMM entries: kept \d+ tools \(\d+ duplicate entries merged\), "
        r"skipped \d+$",
        first,
    )
    assert "skipped, terminal or SSH tool: " in result.stdout
    assert "repaired, domain regex/glob made a wildcard: " in result.stdout
    assert f"wrote {out}" in result.stdout
    check = subprocess.run(
        [*agent_cmd, "signatures", "check", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.startswith("ok: 1 file(s)")
