"""identify_process / needs_pe / scare_tactic / match_installer over the bundled catalogue.

PE metadata is given as PeInfo values here (reading real PE files is tested
with the PE reader); this file tests the matching policy.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence

import pytest

from agent.catalogue.loader import load_catalogue
from agent.catalogue.model import Catalogue, IncomingSession, PeMatch, Rules, Tool
from agent.events import Confidence, MatchedBy, PathClass, PeInfo, ToolMatch
from agent.identify import tools as identify
from agent.identify.tools import (
    identify_process,
    match_installer,
    needs_pe,
    scare_tactic,
)

MICROSOFT = PeInfo(
    original_filename="CALC.EXE.MUI",
    product_name="Microsoft® Windows® Operating System",
    company_name="Microsoft Corporation",
    file_description="Windows Calculator",
    signer="Microsoft Windows",
)


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load_catalogue()


def ident(
    cat: Catalogue,
    name: str,
    *,
    os_name: str = "windows",
    exe: str = "",
    cmdline: Sequence[str] = (),
    pe: PeInfo | None = None,
) -> ToolMatch | None:
    return identify_process(cat, os_name=os_name, name=name, exe=exe, cmdline=cmdline, pe=pe)


@pytest.mark.parametrize(
    ("os_name", "name", "tool_id"),
    [
        ("windows", "AnyDesk.exe", "anydesk"),
        ("windows", "ANYDESK.EXE", "anydesk"),
        ("linux", "anydesk", "anydesk"),
        ("macos", "TeamViewer", "teamviewer"),
        ("windows", "TeamViewer_Service.exe", "teamviewer"),
        ("windows", "quickassist.exe", "quick_assist"),
        ("windows", "msra.exe", "windows_remote_assistance"),
        ("windows", "ShowMyPC.exe", "showmypc"),
        ("windows", "ScreenConnect.ClientService.exe", "screenconnect"),
        ("windows", "UltraViewer_Desktop.exe", "ultraviewer"),
        ("windows", "tvnserver.exe", "tightvnc"),
        ("linux", "x0vncserver", "tigervnc"),
        ("macos", "screensharingd", "macos_screen_sharing"),
        # A Windows tool name seen on another OS (Wine, or the test harness's copies).
        ("linux", "AnyDesk.exe", "anydesk"),
        ("linux", "TeamViewer_Service.exe", "teamviewer"),
    ],
)
def test_matches_by_process_name(cat: Catalogue, os_name: str, name: str, tool_id: str) -> None:
    match = ident(cat, name, os_name=os_name)
    assert match is not None
    assert (match.tool_id, match.matched_by, match.confidence) == (
        tool_id,
        MatchedBy.PROCESS_NAME,
        Confidence.HIGH,
    )


def test_exe_basename_counts_when_the_name_is_truncated(cat: Catalogue) -> None:
    match = ident(cat, "TeamViewer_Serv", exe=r"C:\Program Files\TeamViewer\TeamViewer_Service.exe")
    assert match is not None and match.tool_id == "teamviewer"


@pytest.mark.parametrize(
    ("pe", "tool_id"),
    [
        (PeInfo(original_filename="AnyDesk.exe"), "anydesk"),
        (PeInfo(product_name="TeamViewer"), "teamviewer"),
        (PeInfo(company_name="AnyDesk Software GmbH"), "anydesk"),  # exclusive vendor
        (PeInfo(original_filename="rutserv.exe", company_name="TektonIT"), "remote_utilities"),
    ],
)
def test_renamed_binary_matches_by_pe_metadata(cat: Catalogue, pe: PeInfo, tool_id: str) -> None:
    match = ident(cat, "invoice_2026.exe", exe=r"C:\Users\x\Downloads\invoice_2026.exe", pe=pe)
    assert match is not None
    assert (match.tool_id, match.matched_by) == (tool_id, MatchedBy.PE_METADATA)


@pytest.mark.parametrize(
    "signer",
    [
        "AnyDesk Software GmbH",
        "anydesk software gmbh",
        "CN=AnyDesk Software GmbH, O=AnyDesk Software GmbH, L=Stuttgart, C=DE",
    ],
)
def test_renamed_binary_matches_by_exclusive_signer(cat: Catalogue, signer: str) -> None:
    match = ident(cat, "support.exe", pe=PeInfo(signer=signer))
    assert match is not None
    assert (match.tool_id, match.matched_by) == ("anydesk", MatchedBy.SIGNER)


def test_incoming_session_indicator(cat: Catalogue) -> None:
    args = ("TeamViewer_Desktop.exe", "--IPCport", "5939", "--Module", "1")
    match = ident(cat, "TeamViewer_Desktop.exe", cmdline=args)
    assert match is not None and match.incoming_session
    # Windows hands over one unsplit command line sometimes.
    joined = ident(cat, "TeamViewer_Desktop.exe", cmdline=(" ".join(args),))
    assert joined is not None and joined.incoming_session
    # Idle desktop module, other arguments, or the right arguments in the wrong order.
    for cmdline in (
        ("TeamViewer_Desktop.exe",),
        ("TeamViewer_Desktop.exe", "--IPCport", "5939", "--Module", "2"),
        ("TeamViewer_Desktop.exe", "--Module", "1", "--IPCport", "5939"),
    ):
        quiet = ident(cat, "TeamViewer_Desktop.exe", cmdline=cmdline)
        assert quiet is not None and not quiet.incoming_session, cmdline
    # The service with the same arguments is not the desktop module.
    service = ident(cat, "TeamViewer_Service.exe", cmdline=args)
    assert service is not None and not service.incoming_session


@pytest.mark.parametrize(
    ("name", "pe"),
    [
        ("notepad.exe", None),
        (
            "explorer.exe",
            PeInfo(
                original_filename="EXPLORER.EXE.MUI",
                signer="Microsoft Windows",
                company_name="Microsoft Corporation",
            ),
        ),
        # Microsoft-signed but unrelated: not Quick Assist, not Remote Assistance.
        ("calc.exe", MICROSOFT),
        ("mstsc.exe", PeInfo(original_filename="mstsc.exe", signer="Microsoft Windows")),
        # Google signs Chrome too: Chrome is not Chrome Remote Desktop.
        (
            "chrome.exe",
            PeInfo(product_name="Google Chrome", company_name="Google LLC", signer="Google LLC"),
        ),
        # Outgoing viewers connect from this PC: not a scam tool, even with the vendor's signature.
        ("vncviewer.exe", PeInfo(product_name="VNC Viewer", signer="RealVNC Ltd")),
        ("vncviewer", None),
        ("renamed.exe", PeInfo(original_filename="vncviewer.exe", signer="RealVNC Ltd")),
        ("strwinclt.exe", PeInfo(signer="Splashtop Inc.")),
        ("rutview.exe", PeInfo(signer="Remote Utilities LLC")),
    ],
)
def test_negatives(cat: Catalogue, name: str, pe: PeInfo | None) -> None:
    assert ident(cat, name, pe=pe) is None


def test_news_about_tools_in_a_browser_is_not_a_tool(cat: Catalogue) -> None:
    url = "https://news.example/how-scammers-use-vncviewer-anydesk-and-netstat"
    assert ident(cat, "firefox", os_name="linux", cmdline=("firefox", url)) is None
    assert scare_tactic(cat, name="firefox", cmdline=("firefox", url), parent_name="bash") is None


def test_a_microsoft_signer_corroborates_but_a_name_is_needed(cat: Catalogue) -> None:
    signed = PeInfo(signer="Microsoft Corporation", company_name="Microsoft Corporation")
    match = ident(cat, "quickassist.exe", pe=signed)
    assert match is not None and match.tool_id == "quick_assist"
    assert ident(cat, "helper.exe", pe=signed) is None


def _tool(tool_id: str, confidence: Confidence, name: str) -> Tool:
    return Tool(
        tool_id=tool_id,
        display_name=tool_id,
        process_names=(("windows", (name,)),),
        file_patterns=(),
        pe=PeMatch(),
        signers=(),
        domains=(),
        ports=(),
        incoming_sessions=(IncomingSession("x.exe", ("--x",)),),
        confidence=confidence,
    )


def test_curated_entry_beats_an_imported_one_and_imports_are_low() -> None:
    imported = _tool("imported_shared", Confidence.LOW, "shared.exe")
    curated = _tool("curated_shared", Confidence.HIGH, "shared.exe")
    only_imported = _tool("imported_only", Confidence.LOW, "rare.exe")
    cat = Catalogue(1, (imported, curated, only_imported), (), (), Rules())
    shared = ident(cat, "shared.exe")
    assert shared is not None and shared.tool_id == "curated_shared"
    rare = ident(cat, "rare.exe")
    assert rare is not None and (rare.tool_id, rare.confidence) == ("imported_only", Confidence.LOW)


def test_needs_pe_only_for_unknown_exes_in_user_places(cat: Catalogue) -> None:
    def ask(name: str, where: PathClass) -> bool:
        return needs_pe(cat, name=name, exe=rf"C:\somewhere\{name}", path_class=where)

    assert ask("invoice.exe", PathClass.DOWNLOADS)
    assert ask("support.exe", PathClass.DESKTOP)
    assert ask("setup.exe", PathClass.TEMP)
    assert not ask("AnyDesk.exe", PathClass.DOWNLOADS)  # the name already says it
    assert not ask("vncviewer.exe", PathClass.DOWNLOADS)  # known viewer
    assert not ask("svchost.exe", PathClass.SYSTEM)
    assert not ask("winword.exe", PathClass.PROGRAM_FILES)
    assert not needs_pe(cat, name="bash", exe="/usr/bin/bash", path_class=PathClass.OTHER)
    assert needs_pe(cat, name="x.exe", exe="x.exe", path_class="downloads")
    empty = Catalogue(1, (), (), (), Rules())
    assert not needs_pe(empty, name="x.exe", exe="x.exe", path_class=PathClass.DOWNLOADS)


@pytest.mark.parametrize(
    ("name", "cmdline", "parent", "expected"),
    [
        ("eventvwr.exe", ("eventvwr.exe",), "explorer.exe", "eventvwr"),
        (
            "mmc.exe",
            ("mmc.exe", r"C:\Windows\system32\eventvwr.msc", "/s"),
            "explorer.exe",
            "eventvwr",
        ),
        ("cmd.exe", ("cmd.exe", "/c", "eventvwr"), "explorer.exe", "eventvwr"),
        ("msconfig.exe", ("msconfig.exe",), "explorer.exe", "msconfig"),
        ("syskey.exe", ("syskey",), "cmd.exe", "syskey"),
        ("cmd.exe", ("cmd.exe", "/k", "tree", "C:\\"), "explorer.exe", "tree"),
        ("tree.com", ("tree.com", "C:\\"), "cmd.exe", "tree"),
        ("cmd.exe", ("cmd.exe", "/c", "dir", "C:\\", "/s"), "explorer.exe", "dir_recursive"),
        ("NETSTAT.EXE", ("netstat", "-an"), "cmd.exe", "netstat"),
        ("powershell.exe", ("powershell.exe", "-c", "netstat -ano"), "explorer.exe", "netstat"),
        ("cipher.exe", ("cipher.exe", "/w:C:"), "cmd.exe", "cipher_wipe"),
        ("cmd.exe", ("cmd.exe", "/k", "color a"), "explorer.exe", "color_green"),
        ("cmd.exe", ("cmd.exe", "/k", "color", "0a"), "explorer.exe", "color_green"),
        ("cmd.exe", ("cmd.exe", "/c", "assoc"), "explorer.exe", "assoc"),
        ("Taskmgr.exe", ("Taskmgr.exe", "/7"), "explorer.exe", "taskmgr"),
        ("explorer.exe", ("explorer.exe", r"C:\Windows\Prefetch"), "cmd.exe", "prefetch_temp"),
    ],
)
def test_scare_tactics(
    cat: Catalogue, name: str, cmdline: tuple[str, ...], parent: str, expected: str
) -> None:
    assert scare_tactic(cat, name=name, cmdline=cmdline, parent_name=parent) == expected


@pytest.mark.parametrize(
    ("name", "cmdline", "parent"),
    [
        ("cmd.exe", ("cmd.exe",), "explorer.exe"),
        ("git", ("git", "ls-tree", "HEAD"), "bash"),
        ("tree.com", ("tree.com",), "python.exe"),  # not started from a shell
        ("netstat.exe", ("netstat.exe", "-an"), "monitoring-agent.exe"),
        ("cmd.exe", ("cmd.exe", "/c", "dir", "C:\\"), "explorer.exe"),  # no /s
        ("cmd.exe", ("cmd.exe", "/c", "color", "07"), "explorer.exe"),
        ("cipher.exe", ("cipher.exe", "/e", "secret"), "cmd.exe"),  # encrypt, not wipe
        ("explorer.exe", ("explorer.exe", r"C:\Users\x\Documents"), "explorer.exe"),
        ("python", ("python", "-c", "print('eventvwr.msc')"), "bash"),
    ],
)
def test_not_scare_tactics(
    cat: Catalogue, name: str, cmdline: tuple[str, ...], parent: str
) -> None:
    assert scare_tactic(cat, name=name, cmdline=cmdline, parent_name=parent) is None


@pytest.mark.parametrize(
    ("file_name", "tool_id"),
    [
        ("AnyDesk.exe", "anydesk"),
        ("AnyDesk (1).exe", "anydesk"),
        ("TeamViewerQS_en-idcjxyz.exe", "teamviewer"),
        ("TeamViewer_Setup_x64.exe", "teamviewer"),
        ("Support-LogMeInRescue.exe", "logmein_rescue"),
        ("ScreenConnect.ClientSetup.exe", "screenconnect"),
        ("UltraViewer_setup_6.6_en.exe", "ultraviewer"),
        ("rustdesk-1.3.2-x86_64.exe", "rustdesk"),
        (r"C:\Users\x\Downloads\SplashtopSOS.exe", "splashtop"),
        ("bomgar-scc-w0eec30ygi5zxgfj.exe", "beyondtrust_remote_support"),
    ],
)
def test_installer_file_names(cat: Catalogue, file_name: str, tool_id: str) -> None:
    tool = match_installer(cat, file_name=file_name, pe=None)
    assert tool is not None and tool.tool_id == tool_id


def test_installer_by_pe_and_negatives(cat: Catalogue) -> None:
    renamed = match_installer(cat, file_name="invoice.exe", pe=PeInfo(product_name="AnyDesk"))
    assert renamed is not None and renamed.tool_id == "anydesk"
    assert match_installer(cat, file_name="invoice.exe", pe=MICROSOFT) is None
    for benign in ("holiday-photos.zip", "report.pdf", "setup.exe", "vlc-3.0.20-win64.exe"):
        assert match_installer(cat, file_name=benign, pe=None) is None, benign


def test_indexes_are_built_once_per_catalogue_and_dropped_with_it() -> None:
    cat = load_catalogue()
    ident(cat, "AnyDesk.exe")
    first = identify._cache[id(cat)][1]
    ident(cat, "notepad.exe")
    assert identify._cache[id(cat)][1] is first
    key = id(cat)
    del cat
    gc.collect()
    assert key not in identify._cache


def test_incoming_session_of_a_renamed_desktop_module(cat: Catalogue) -> None:
    pe = PeInfo(original_filename="TeamViewer_Desktop.exe", product_name="TeamViewer")
    args = ("helper.exe", "--IPCport", "5939", "--Module", "1")
    match = ident(cat, "helper.exe", exe=r"C:\Users\x\Downloads\helper.exe", cmdline=args, pe=pe)
    assert match is not None
    assert (match.tool_id, match.matched_by, match.incoming_session) == (
        "teamviewer",
        MatchedBy.PE_METADATA,
        True,
    )
