"""What sensors observe: immutable, hashable event values.

Sensors build these and put them on the runtime's queue; the correlator
reads them. Events are plain facts about this PC and stay on it: fields
such as ``exe``, ``cmdline``, ``title`` or ``url`` may reach the local
journal but never the outbox (the outbox only sees a ``Verdict``'s
enums and tool id).

Every event carries ``at``: wall-clock seconds since the epoch (UTC) from
the injected clock of the sensor that saw it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class PathClass(str, enum.Enum):
    """Where an executable lives, coarsely; portable scam tools run from Downloads."""

    DOWNLOADS = "downloads"
    TEMP = "temp"
    DESKTOP = "desktop"
    PROGRAM_FILES = "program_files"
    SYSTEM = "system"
    OTHER = "other"


class Confidence(str, enum.Enum):
    """How sure a catalogue match is.

    LOW entries (e.g. imported from LOLRMM) produce a verdict only with scam context.
    """

    HIGH = "high"
    LOW = "low"


class MatchedBy(str, enum.Enum):
    """Which catalogue field identified the tool."""

    PROCESS_NAME = "process_name"
    PE_METADATA = "pe_metadata"
    SIGNER = "signer"


class CallerKind(str, enum.Enum):
    """Who is calling, as far as the source knows."""

    UNKNOWN = "unknown"  # not in the contacts (companion phone app, softphone plug-in)
    KNOWN = "known"  # in the contacts
    UNVERIFIED = "unverified"  # a call seen on the PC itself; we cannot tell who


class PageKind(str, enum.Enum):
    """What sort of sensitive page was opened."""

    BANKING = "banking"
    PAYMENT = "payment"
    GIFT_CARD = "gift_card"


@dataclass(frozen=True)
class PeInfo:
    """Version-resource fields and Authenticode signer of a PE executable (None = absent)."""

    original_filename: str | None = None
    product_name: str | None = None
    company_name: str | None = None
    file_description: str | None = None
    signer: str | None = None
    # The signature checked out: file digest intact and the chain ends in a trusted
    # root. False = not checked, not possible here, or failed (e.g. a self-signed
    # certificate that merely *names* a vendor); ``signer`` is reported either way.
    signer_verified: bool = False


@dataclass(frozen=True)
class ToolMatch:
    """A process identified as a catalogue remote-access tool."""

    tool_id: str
    display_name: str
    matched_by: MatchedBy
    confidence: Confidence
    # The command line matches the tool's incoming-session indicator
    # (e.g. TeamViewer_Desktop.exe --IPCport 5939 --Module 1).
    incoming_session: bool = False


@dataclass(frozen=True)
class ProcessStarted:
    """A process not seen before. Identification is an observation, not a decision."""

    at: float
    pid: int
    ppid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    create_time: float
    path_class: PathClass
    parent_name: str = ""
    pe: PeInfo | None = None
    tool: ToolMatch | None = None
    # Id of the scare tactic from scam_context.yaml (e.g. "eventvwr", "netstat").
    scare_tactic: str | None = None
    # Started by the service manager / at boot (long-installed, not a fresh start).
    started_by_service: bool = False
    # Days since this tool's executable was first seen on the PC (None = first time).
    first_seen_days_ago: float | None = None


@dataclass(frozen=True)
class ProcessEnded:
    """A process seen before is gone."""

    at: float
    pid: int
    name: str


@dataclass(frozen=True)
class SessionStarted:
    """A running remote tool has an active remote session."""

    at: float
    tool_id: str
    pid: int
    # How it was seen: "connection" (catalogue port), "process_pattern" (incoming-
    # session command line) or "process_running" (a session_while_running tool).
    via: str


@dataclass(frozen=True)
class SessionEnded:
    """The remote tool's session ended (connections gone or process exited)."""

    at: float
    tool_id: str
    pid: int


@dataclass(frozen=True)
class CallStarted:
    """A phone call began (intake from a phone app, or a call seen on the PC)."""

    at: float
    caller: CallerKind
    source: str  # "intake", "cli", "softphone", "kdeconnect", "phonelink", "callhistory"
    # The caller was looked up in the person's own contacts (the phone sensor):
    # UNKNOWN then means "not in your contacts", and the warning says so.
    contacts_checked: bool = False


@dataclass(frozen=True)
class CallEnded:
    """The call ended."""

    at: float
    source: str


@dataclass(frozen=True)
class ScarewarePage:
    """A browser page matched a scareware pattern. Title/URL stay in the local journal."""

    at: float
    pattern_id: str
    source: str  # "chrome", "firefox", "intake", "cli", ...
    title: str = ""
    url: str = ""


@dataclass(frozen=True)
class SensitivePage:
    """Online banking, a payment page or a gift-card shop was opened."""

    at: float
    pattern_id: str
    kind: PageKind
    source: str
    title: str = ""
    url: str = ""


@dataclass(frozen=True)
class InstallerDownloaded:
    """A remote tool's installer or portable executable landed in a watched folder."""

    at: float
    tool_id: str
    path: str
    # Host the OS recorded as the download origin, if any (local only).
    origin_host: str | None = None
    # Whether origin_host belongs to the tool's vendor (None = unknown).
    from_vendor: bool | None = None


Event = (
    ProcessStarted
    | ProcessEnded
    | SessionStarted
    | SessionEnded
    | CallStarted
    | CallEnded
    | ScarewarePage
    | SensitivePage
    | InstallerDownloaded
)
