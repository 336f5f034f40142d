"""Repairs for LOLRMM's known data problems, one field at a time.

Each function takes the raw value and a Counter, returns the usable value
(or None) and counts what it had to do, so the import summary can say how
much of the source needed fixing. See agent/catalogue/lolrmm/convert.py for the list of
problems (from ../shared/lolrmm/SOURCE.md).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from agent.catalogue.nodes import check_host

GLOB_OR_REGEX = re.compile(r"[*?\[\]{}()\\+^$|]")
VALUE = re.compile(r"^[\w .+-]{1,64}$")
_GENERIC_NAMES = frozenset(
    {
        "agent",
        "service",
        "client",
        "setup",
        "install",
        "installer",
        "update",
        "updater",
        "launcher",
        "host",
        "server",
        "remote",
        "support",
        "helper",
        "windowslauncher",
        "sysdiag",
        "svchost",
        "dwm",
        "explorer",
        "cmd",
        "powershell",
        "rundll32",
        "msiexec",
        "java",
        "javaw",
        "python",
        "node",
        "electron",
        "mstsc",
        "qq",
        "rdp",
        "remote access",
        "remote desktop",
        "connect",
        "goto",
        "appcore",
        "winagent",
        "agent32",
        "agent64",
        "agentu",
        "supporttool",
        "installshield setup",
        "installcore",
        "notificationhelper",
        "usernotificationhelper",
        "manuallauncher",
        "modulesupgrademgr",
        "otpowershell",
        "online backup",
        "cbbackupplan",
        "migrationhelper_32",
        "migrationhelper_64",
        # Tencent's antivirus and QQ's self-protection, listed under "QQ remote assistance".
        "qqpcmgr",
        "qqprotect",
    }
)
# Shared hosting: "*.amazonaws.com" belongs to everyone, not to one tool.
_SHARED_HOSTING = (
    "amazonaws.com",
    "windows.net",
    "cloudfront.net",
    "azureedge.net",
    "azurewebsites.net",
    "googleapis.com",
    "github.com",
    "githubusercontent.com",
    "herokuapp.com",
)
# Outgoing viewers LOLRMM lists among a tool's files (besides the bundled
# catalogue's viewer_processes, see bundled_viewers()).
VIEWERS = frozenset(
    {"vncviewer", "tvnviewer", "rutview", "romviewer", "radmin", "dwrcc", "mstsc", "msrdc"}
)
_BOGUS_SIGNERS = frozenset(
    {".net", "certification authority", "win.rar gmbh", "simon tatham", "power software limited"}
)
INSTALLER_EXT = (".msi", ".dmg", ".pkg", ".deb", ".rpm", ".zip", ".appimage")


def generic(name: str) -> bool:
    stem = re.sub(r"\.(exe|app)$", "", name.strip().lower())
    return len(stem) < 4 or stem in _GENERIC_NAMES


def clean_domain(raw: str, repaired: Counter[str]) -> str | None:
    host = raw.strip().lower().rstrip(".")
    if ":" in host and not host.startswith("["):
        host = host.split(":", 1)[0]
        repaired["domain port removed"] += 1
    host = host.replace("\\.", ".")  # an escaped regex dot is still a dot
    labels = host.split(".")
    bad = [i for i, label in enumerate(labels) if GLOB_OR_REGEX.search(label)]
    if (bad and bad != [0]) or (bad == [0] and labels[0] != "*"):
        rest = labels[bad[-1] + 1 :]
        if len(rest) < 2:
            repaired["domain pattern dropped"] += 1
            return None
        host = "*." + ".".join(rest)
        repaired["domain regex/glob made a wildcard"] += 1
    if any(host == h or host.endswith("." + h) for h in _SHARED_HOSTING) and host.startswith("*."):
        repaired["shared-hosting wildcard dropped"] += 1
        return None
    problem = check_host(host)
    if problem:
        repaired["domain dropped (IP, placeholder, bare word or too broad)"] += 1
        return None
    return host


def clean_signer(raw: str, repaired: Counter[str]) -> str | None:
    s = raw.strip()
    if not s:
        return None
    if s.lower() in _BOGUS_SIGNERS or (" " not in s and "sign" in s.lower()) or "\\" in s:
        repaired["implausible signer dropped"] += 1
        return None
    return s


def website_host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        return ""
    parts = urlsplit(value.strip() if "//" in value else "//" + value.strip())
    host = (parts.hostname or "").lower()
    return host.removeprefix("www.")


def site_key(value: Any) -> str:
    """Website host + path: two entries pointing at the same product page are one tool."""
    if not isinstance(value, str) or not value.strip():
        return ""
    parts = urlsplit(value.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    return f"{host}{parts.path.rstrip('/').lower()}" if host else ""
