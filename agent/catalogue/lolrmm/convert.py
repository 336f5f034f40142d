"""Convert the public LOLRMM catalogue into an extra ratwatch catalogue file.

Which entries are kept is decided in ``agent.catalogue.lolrmm.policy`` (remote-control
tools stay; SSH, file-transfer, tunnel, viewer and monitoring tools go). This
module turns each kept entry into our ``tools:`` schema and repairs the data
problems LOLRMM is known for, counting every repair for the summary:

- ``Network.Domains`` holding regexes or globs as plain strings
  (``relay-[a-f0-9]{8}.net.anydesk.com:443``, ``auth*.aeroadmin.com``): the
  port is cut off and the pattern label with everything left of it becomes
  ``*.`` (``*.net.anydesk.com``); IP addresses, placeholders (``user_managed``)
  and bare words are dropped, and so is anything that would cover a whole
  top-level domain (``*.local``, ``*.com``) or shared cloud hosting;
- signer names that are not a company (``CodeSigningMico``, ``GlobalSigningDig``
  on the Quick Assist entries, ``.NET``, the WinRAR SFX signer) are dropped;
- process names too generic to mean one tool (``agent.exe``, ``dd.exe``) are
  dropped; globs in file names become installer patterns;
- duplicate entries (same name without its parenthesis, or the same product
  web page, e.g. ``microsoft_quick_assist`` and ``quickassist``) are merged;
- entries without ``OriginalFileName`` or signing data simply lack those
  fields; an entry with nothing to match a process on is skipped.

Every imported tool is ``confidence: low`` (a verdict only with scam context)
and never ``vendor_exclusive``. The output is validated with the same loader
the agent uses before it is written.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ratwatch_proto.limits import is_slug

from agent.catalogue.lolrmm.policy import skip_reason
from agent.catalogue.lolrmm.repair import (
    GLOB_OR_REGEX,
    INSTALLER_EXT,
    VALUE,
    VIEWERS,
    clean_domain,
    clean_signer,
    generic,
    site_key,
    website_host,
)
from agent.catalogue.nodes import (
    check_file_pattern,
    check_host,
    check_process_name,
)
from agent.catalogue.schema import GENERIC_PORTS, read_file
from agent.errors import LolrmmError

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What the import kept, skipped and repaired (printed as the summary)."""

    entries: int = 0
    kept: int = 0
    merged: int = 0  # entries folded into another entry of the same tool
    skipped: Counter[str] = field(default_factory=Counter)
    repaired: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """Human-readable multi-line summary."""
        lines = [
            f"{self.entries} LOLRMM entries: kept {self.kept} tools "
            f"({self.merged} duplicate entries merged), skipped {sum(self.skipped.values())}"
        ]
        lines += [f"  skipped, {why}: {n}" for why, n in sorted(self.skipped.items())]
        lines += [f"  repaired, {what}: {n}" for what, n in sorted(self.repaired.items())]
        return "\n".join(lines)


@dataclass
class _Entry:
    tool_id: str
    name: str
    files: list[str]
    category: str
    website: str
    lists: dict[str, list[str]] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)

    def add(self, key: str, value: str) -> None:
        bucket = self.lists.setdefault(key, [])
        if value.lower() not in (v.lower() for v in bucket):
            bucket.append(value)


def _slug(stem: str) -> str:
    s = re.sub(r"[^a-z0-9_.-]+", "_", stem.lower()).strip("_.-")
    return re.sub(r"_+", "_", s)[:48] or "tool"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _add_file_name(entry: _Entry, raw: str, report: ImportReport) -> None:
    """One executable or installer name (from PEMetadata or InstallationPaths)."""
    base = re.split(r"[\\/]", raw.strip().rstrip("\\/"))[-1]
    lower = base.lower()
    if not base or (" " in base and "." not in base):
        return  # prose or a folder
    if lower.endswith(".app") and "/" in raw:
        name = base[:-4]
        if not GLOB_OR_REGEX.search(name) and not generic(name):
            entry.add("macos", name)
        return
    if lower.endswith(".exe") or lower.endswith(INSTALLER_EXT):
        if GLOB_OR_REGEX.search(base) or lower.endswith(INSTALLER_EXT):
            if check_file_pattern(base) is None:
                entry.add("files", base)
            return
        if generic(base):
            report.repaired["generic process name dropped"] += 1
        elif check_process_name(base) is None:
            entry.add("windows", base)
        return
    if (
        raw.startswith("/")
        and "/bin/" in raw
        and "." not in base
        and not GLOB_OR_REGEX.search(base)
    ) and not generic(base):
        entry.add("linux", base)


def _name_key(name: str) -> str:
    n = re.sub(r"\(.*?\)", "", name.lower()).removeprefix("microsoft ")
    return re.sub(r"[^a-z0-9]", "", n)


def _read_pe(entry: _Entry, details: dict[str, Any], report: ImportReport) -> None:
    for pe in _as_list(details.get("PEMetadata")):
        if not isinstance(pe, dict):
            continue
        if isinstance(pe.get("Filename"), str):
            _add_file_name(entry, pe["Filename"], report)
        for key, target in (("OriginalFileName", "original_filename"), ("Product", "product")):
            value = pe.get(key)
            if not isinstance(value, str) or not value.strip():
                continue
            if VALUE.match(value.strip()) and not generic(value):
                entry.add(target, value.strip())
            else:
                report.repaired[f"PE {key} unusable"] += 1
    for raw in _as_list(details.get("InstallationPaths")):
        if isinstance(raw, str):
            _add_file_name(entry, raw, report)


def _read_network(entry: _Entry, artifacts: dict[str, Any], report: ImportReport) -> None:
    for net in _as_list(artifacts.get("Network")):
        if not isinstance(net, dict):
            continue
        for raw in _as_list(net.get("Domains")):
            host = clean_domain(str(raw), report.repaired) if raw is not None else None
            if host:
                entry.add("domains", host)
        for raw in _as_list(net.get("Ports")):
            port = int(raw) if isinstance(raw, int) or str(raw).isdigit() else None
            if port is None or not 0 < port < 65536:
                report.repaired["port unusable"] += 1
            elif port not in GENERIC_PORTS and port not in entry.ports:
                entry.ports.append(port)


def _mapping(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _read_entry(path: Path, doc: dict[str, Any], report: ImportReport) -> _Entry:
    details = _mapping(doc, "Details")
    entry = _Entry(
        tool_id=_slug(path.stem),
        name=str(doc.get("Name") or path.stem).strip(),
        files=[path.name],
        category=str(doc.get("Category") or ""),
        website=website_host(details.get("Website")),
    )
    _read_pe(entry, details, report)
    _read_network(entry, _mapping(doc, "Artifacts"), report)
    for cert in _as_list(_mapping(doc, "CodeSigning").get("certificates")):
        if isinstance(cert, dict) and isinstance(cert.get("signer_name"), str):
            signer = clean_signer(cert["signer_name"], report.repaired)
            if signer:
                entry.add("signers", signer)
    return entry


def _drop_viewers(entry: _Entry, viewers: frozenset[str], report: ImportReport) -> None:
    """Remove outgoing viewers (vncviewer, mstsc, ...) that LOLRMM lists beside servers."""
    for os_name in ("windows", "macos", "linux"):
        names = entry.lists.get(os_name, [])
        kept = [n for n in names if _viewer_key(n) not in viewers]
        if len(kept) != len(names):
            report.repaired["outgoing viewer name dropped"] += len(names) - len(kept)
            entry.lists[os_name] = kept


def _viewer_key(name: str) -> str:
    n = name.strip().lower()
    return n[:-4] if n.endswith(".exe") else n


def bundled_viewers() -> frozenset[str]:
    """Viewer names known to the bundled catalogue, plus a few LOLRMM lists as servers."""
    from agent.catalogue.loader import load_catalogue
    from agent.errors import SignatureError

    try:
        tools = load_catalogue().tools
    except SignatureError:
        # The import does not depend on the bundled content; the built-in list will do.
        log.warning("bundled signatures invalid; using the built-in viewer list only")
        return VIEWERS
    names = {_viewer_key(n) for t in tools for n in t.viewer_names}
    return frozenset(names | VIEWERS)


def _merge(entries: list[tuple[_Entry, str]], report: ImportReport) -> list[_Entry]:
    """Fold entries with the same name key or product page into one (shortest id wins)."""
    parent = list(range(len(entries)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[str, int] = {}
    for i, (entry, site) in enumerate(entries):
        for key in (f"name:{_name_key(entry.name)}", f"site:{site}" if site else ""):
            if not key or key.endswith(":"):
                continue
            if key in seen:
                parent[root(i)] = root(seen[key])
            else:
                seen[key] = i
    groups: dict[int, list[_Entry]] = {}
    for i, (entry, _) in enumerate(entries):
        groups.setdefault(root(i), []).append(entry)
    merged: list[_Entry] = []
    for members in groups.values():
        members.sort(key=lambda e: (len(e.tool_id), e.tool_id))
        first = members[0]
        for other in members[1:]:
            report.merged += 1
            first.files.extend(other.files)
            first.ports.extend(p for p in other.ports if p not in first.ports)
            for key, values in other.lists.items():
                for v in values:
                    first.add(key, v)
        merged.append(first)
    return sorted(merged, key=lambda e: e.tool_id)


def _to_yaml(entry: _Entry) -> dict[str, Any]:
    lists = entry.lists
    tool: dict[str, Any] = {"id": entry.tool_id, "name": entry.name}
    processes = {os: lists[os] for os in ("windows", "macos", "linux") if lists.get(os)}
    if processes:
        tool["processes"] = processes
    if lists.get("files"):
        tool["files"] = lists["files"]
    pe = {k: lists[k] for k in ("original_filename", "product") if lists.get(k)}
    if pe:
        tool["pe"] = pe
    for key in ("signers", "domains"):
        if lists.get(key):
            tool[key] = lists[key]
    if entry.ports:
        tool["ports"] = entry.ports
    if entry.website and check_host(entry.website) is None:
        tool["vendor_hosts"] = [entry.website]
    tool["confidence"] = "low"
    tool["notes"] = (
        f"Imported from LOLRMM ({', '.join(sorted(entry.files))}), category {entry.category}."
    )
    return tool


def _source_files(src_dir: Path) -> list[Path]:
    folder = src_dir / "yaml" if (src_dir / "yaml").is_dir() else src_dir
    if not folder.is_dir():
        raise LolrmmError(f"{src_dir}: not a folder with LOLRMM YAML files", file=str(src_dir))
    found = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not found:
        raise LolrmmError(f"{folder}: no *.yaml or *.yml files", file=str(folder))
    return found


def convert(
    src_dir: Path, viewers: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], ImportReport]:
    """Read every LOLRMM entry under ``src_dir``; return our tool mappings and the report."""
    report = ImportReport()
    viewers = bundled_viewers() if viewers is None else viewers
    kept: list[tuple[_Entry, str]] = []
    for path in _source_files(src_dir):
        report.entries += 1
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            report.skipped["unreadable file"] += 1
            continue
        if not isinstance(doc, dict):
            report.skipped["not a LOLRMM entry"] += 1
            continue
        reason = skip_reason(doc)
        if reason:
            report.skipped[reason] += 1
            continue
        entry = _read_entry(path, doc, report)
        kept.append((entry, site_key(_mapping(doc, "Details").get("Website"))))
    tools: list[dict[str, Any]] = []
    for entry in _merge(kept, report):
        _drop_viewers(entry, viewers, report)
        identifiable = any(entry.lists.get(k) for k in ("windows", "macos", "linux"))
        identifiable = identifiable or any(
            entry.lists.get(k) for k in ("original_filename", "product")
        )
        if not identifiable or not is_slug(entry.tool_id):
            report.skipped["nothing to match a process on"] += 1
            continue
        tools.append(_to_yaml(entry))
    report.kept = len(tools)
    return tools, report


def render(tools: Iterable[dict[str, Any]], src_dir: Path) -> str:
    """The output file's text: a header saying what it is, then the tools."""
    header = (
        "# Generated by `ratwatch-agent signatures import-lolrmm` from the LOLRMM catalogue\n"
        f"# ({src_dir.name}; https://github.com/magicsword-io/LOLRMM, Apache-2.0).\n"
        "# Every entry is confidence: low (a verdict only with scam context). Regenerate it\n"
        "# rather than editing it, and do not commit it to the ratwatch repository.\n"
    )
    body = yaml.safe_dump(
        {"schema": 1, "tools": list(tools)}, sort_keys=False, allow_unicode=True, width=100
    )
    return header + body


def import_lolrmm(src_dir: Path, out_file: Path) -> ImportReport:
    """Convert ``src_dir`` into ``out_file`` (validated before it is written)."""
    tools, report = convert(src_dir)
    text = render(tools, src_dir)
    _, problems = read_file(str(out_file), text)
    if problems:  # a converter bug: never write a file the agent would refuse
        raise LolrmmError(
            "the converted catalogue does not validate:\n" + "\n".join(map(str, problems))
        )
    tmp = out_file.with_name(out_file.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_file)
    return report
