"""Which LOLRMM entries are consumer-scam remote-control tools, and which are not.

LOLRMM catalogues every remote *administration* tool a SOC might meet: SSH
clients, file-sync apps, tunnels, monitoring agents. A consumer warning must
not treat PuTTY or Syncthing like TeamViewer, so an entry is kept only when it
can show or control this PC's desktop. The decision, in order:

1. a known-name list (by LOLRMM ``Name``) skips whole families with the reason:
   terminal/SSH, file transfer/sync/storage, tunnel/VPN, outgoing viewer (an
   RDP/VNC client connects *from* this PC), monitoring/inventory/deployment,
   employee monitoring, input sharing/accessibility;
2. a name keyword (ssh, sftp, ftp, telnet, tunnel, vpn, putty, backup, sync)
   skips what the lists do not name yet;
3. ``Category: RAT`` in LOLRMM means "remote admin tool" and mixes PuTTY with
   VNC, so such an entry is kept only with remote-desktop evidence in its name,
   capabilities or description (vnc, remote desktop, screen sharing, ...);
   ``Category: RMM`` entries are kept (RMM agents with remote control are what
   callback scams install) unless rules 1-2 skipped them.

The descriptions are mostly boilerplate ("... is a remote monitoring and
management (RMM) tool. More information will be added ..."), which is removed
before looking for evidence.
"""

from __future__ import annotations

import re
from typing import Any

SKIP_NAMES: dict[str, frozenset[str]] = {
    "terminal or SSH tool": frozenset(
        {
            "putty",
            "putty tray",
            "kitty",
            "extraputty",
            "superputty",
            "solar-putty",
            "bitvise ssh client",
            "bitvise ssh server",
            "securecrt",
            "xshell",
            "zoc",
            "mobaxterm",
            "smartty",
            "terminals",
            "tmate",
            "chrome ssh extension",
            "shellhub",
            "teleport connect",
            "psexec",
            "psexec (clone)",
        }
    ),
    "file transfer, sync or storage": frozenset(
        {
            "winscp",
            "smartftp",
            "s3 browser",
            "dragondisk",
            "yandex.disk",
            "syncthing",
            "duplicati",
            "beinsync",
            "insync",
            "koofr",
            "megasync",
            "multcloud",
            "nordlocker",
            "onionshare",
            "idrive",
            "laplink gold",
            "basecamp",
        }
    ),
    "tunnel or VPN": frozenset(
        {
            "ngrok",
            "cloudflare tunnel",
            "dev tunnels (aka visual studio dev tunnel)",
            "visual studio dev tunnel",
            "localxpose",
            "pitunnel",
            "zerotier",
            "tailscale",
            "netbird",
            "remote.it",
            "dataplicity",
            "rdp2tcp",
            "rdpwrap",
        }
    ),
    "outgoing viewer (connects from this PC)": frozenset(
        {
            "mstsc.exe (microsoft remote desktop connection)",
            "freerdp",
            "rdcman",
            "rdclient",
            "remmina",
            "mremoteng",
            "devolutions remote desktop manager",
            "remote desktop manager (devolutions)",
            "remote desktop plus",
            "royal ts",
            "royal apps",
            "royal server",
            "webrdp",
            "guacamole",
            "chicken (of the vnc)",
            "jollysfastvnc",
            "remote ripple",
            "rdpview",
            "gotoassist agent desktop console",
        }
    ),
    "monitoring, inventory or deployment": frozenset(
        {
            "zabbix agent",
            "site24x7",
            "auvik",
            "domotz",
            "netreo",
            "ocs inventory",
            "glpi agent",
            "freshservice",
            "vizor",
            "rapid7",
            "tanium",
            "tanium deploy",
            "panorama9",
            "free ping tool",
            "nezha",
            "absolute (computrace)",
            "eset remote administrator",
            "faronics deep freeze",
            "ninite pro (ninite agent)",
            "total software deployment",
            "miradore",
            "invgate",
            "manageengine servicedesk plus",
        }
    ),
    "employee monitoring": frozenset(
        {"teramind", "kickidler", "controlio", "net monitor for employees"}
    ),
    "input sharing or accessibility": frozenset(
        {"synergy", "mouse without borders", "nvda (non-visual desktop access)", "duet display"}
    ),
}

_SKIP_KEYWORD = re.compile(r"\b(ssh|sftp|ftp|scp|telnet|tunnels?|vpn|putty|backup|sync)\b", re.I)
_EVIDENCE = re.compile(
    r"vnc|remote[ -]?desktop|remote[ -]control|remote[ -]support|remote[ -]assist|"
    r"screen[ -]?shar|desktop[ -]shar|unattended|nomachine|\bnx\b|x2go|xpra|xrdp|parsec|"
    r"pcanywhere|\brdp\b|\bassist\b|freenx",
    re.I,
)
_BOILERPLATE = re.compile(
    r"is a remote monitoring and management \(RMM\) tool\.?|"
    r"More information will be added as it becomes available\.?",
    re.I,
)


def _text_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


def skip_reason(doc: dict[str, Any]) -> str | None:
    """Why this LOLRMM entry is not a consumer remote-control tool (None = keep it)."""
    name = str(doc.get("Name") or "").strip()
    lower = name.lower()
    for reason, names in SKIP_NAMES.items():
        if lower in names:
            return reason
    match = _SKIP_KEYWORD.search(name)
    if match:
        return f"name says {match.group(1).lower()}"
    if doc.get("Category") == "RAT":
        details = doc.get("Details") if isinstance(doc.get("Details"), dict) else {}
        evidence = " ".join(
            [
                name,
                _BOILERPLATE.sub("", str(doc.get("Description") or "")),
                *_text_list((details or {}).get("Capabilities")),
            ]
        )
        if not _EVIDENCE.search(evidence):
            return "RAT category without remote-desktop evidence"
    return None
