"""The loaded detection content as plain, immutable values.

``agent.catalogue.loader`` builds these from the YAML under ``signatures/`` (and
any extra catalogue files named in the config); everything else only
reads them. Adding a tool or a phrase is a YAML change, never a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.events import Confidence


@dataclass(frozen=True)
class IncomingSession:
    """A command-line shape that means "someone is connected right now"."""

    process: str  # process name, case-insensitive (e.g. "TeamViewer_Desktop.exe")
    args: tuple[str, ...]  # every token must appear in the command line, in order


@dataclass(frozen=True)
class PortRange:
    """One port or an inclusive range of ports ("5900-5999": VNC listens on 5900 + display)."""

    low: int
    high: int

    @classmethod
    def single(cls, port: int) -> PortRange:
        """The range holding just ``port``."""
        return cls(port, port)

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class PeMatch:
    """Version-resource values that identify the tool (any one suffices)."""

    original_filenames: tuple[str, ...] = ()
    product_names: tuple[str, ...] = ()
    company_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tool:
    """One remote-access tool."""

    tool_id: str
    display_name: str
    # OS ("windows", "macos", "linux") -> process names, case-insensitive.
    process_names: tuple[tuple[str, tuple[str, ...]], ...]
    # fnmatch patterns for installers / portable executables (case-insensitive).
    file_patterns: tuple[str, ...]
    pe: PeMatch
    signers: tuple[str, ...]
    domains: tuple[str, ...]  # "anydesk.com" or "*.anydesk.com"
    ports: tuple[PortRange, ...]  # the tool's own ports, single or ranges
    incoming_sessions: tuple[IncomingSession, ...] = ()
    vendor_hosts: tuple[str, ...] = ()  # download origins that are the vendor's own
    confidence: Confidence = Confidence.HIGH
    # Ordinary desktop programs that share a name with the tool should not hit
    # (e.g. "vncviewer" is an outgoing viewer, not a server); False = viewer-only.
    notes: str = ""
    source: str = ""  # file the entry came from (for messages)
    # The vendor's outgoing viewers / consoles (e.g. "vncviewer"): they connect
    # from this PC to another one, so they never identify the tool, even when the
    # signer or company matches.
    viewer_names: tuple[str, ...] = ()
    # The company / signer names make nothing but this tool, so a match on them
    # alone identifies it (AnyDesk Software GmbH); False for vendors of many
    # products (Microsoft, Google), whose names only corroborate.
    vendor_exclusive: bool = False
    # The tool's processes run only while someone is connected (Quick Assist,
    # msra.exe), so a running process is itself a live session; such tools use
    # only port 443, where the session sensor cannot tell a session from traffic.
    session_while_running: bool = False

    def has_port(self, port: int) -> bool:
        """Whether ``port`` is one of the tool's own ports (or inside one of its ranges)."""
        return any(port in r for r in self.ports)

    def names_for(self, os_name: str) -> tuple[str, ...]:
        """Process names for one OS ("windows", "macos", "linux")."""
        return dict(self.process_names).get(os_name, ())


@dataclass(frozen=True)
class ScareTactic:
    """A process or command a scammer uses to "prove" an infection."""

    tactic_id: str
    description: str
    process_names: tuple[str, ...] = ()  # e.g. "eventvwr.exe", "mmc.exe"
    # Regular expressions over the joined command line (case-insensitive),
    # e.g. r"(^|\s)tree(\s|$)" for cmd /c tree.
    cmdline_patterns: tuple[str, ...] = ()
    # Only when the parent / host process is one of these (empty = any).
    # For cmdline_patterns: the process itself or its parent (cmd /c tree, or a
    # command typed into powershell). For process_names see ``parents``.
    hosts: tuple[str, ...] = ()
    # A process_names match counts only when its parent is one of these
    # (empty = any parent): tree.com from cmd is a scare tactic.
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class PagePattern:
    """A browser page shape: scareware, banking, payment or gift card."""

    pattern_id: str
    kind: str  # "scareware" | "banking" | "payment" | "gift_card"
    title_phrases: tuple[str, ...] = ()  # case-insensitive substrings
    title_regexes: tuple[str, ...] = ()
    url_regexes: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # exact host or "*.host"
    language: str = ""
    # A page that matched is still not this kind when its title has one of these
    # phrases (e.g. "how to spot", "scam" for news about scareware) or its host is
    # one of these (the real support.microsoft.com is not a scareware page).
    exclude_phrases: tuple[str, ...] = ()
    exclude_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Softphone:
    """A softphone / VoIP / phone-link app: with the microphone capturing, a call is on."""

    softphone_id: str
    display_name: str
    process_names: tuple[str, ...]  # any OS, case-insensitive (e.g. "Zoom.exe", "zoom")


@dataclass(frozen=True)
class Rules:
    """Correlation windows and levels from rules.yaml (minutes unless named otherwise)."""

    call_window_minutes: float = 30.0
    scareware_window_minutes: float = 30.0
    installer_window_minutes: float = 30.0
    long_installed_days: float = 7.0
    trust_hours: float = 8.0
    levels: tuple[tuple[str, str], ...] = ()  # rule name -> level name


@dataclass(frozen=True)
class Catalogue:
    """Everything the agent detects with, as one immutable snapshot."""

    version: int
    tools: tuple[Tool, ...]
    scare_tactics: tuple[ScareTactic, ...]
    pages: tuple[PagePattern, ...]
    rules: Rules
    sources: tuple[str, ...] = field(default=())
    softphones: tuple[Softphone, ...] = field(default=())
    # Informational notes from loading (e.g. an extra file's tool skipped because
    # a bundled tool has the same id); never errors.
    notes: tuple[str, ...] = field(default=())

    def tool(self, tool_id: str) -> Tool | None:
        """Return the tool with this id, or None."""
        for t in self.tools:
            if t.tool_id == tool_id:
                return t
        return None
