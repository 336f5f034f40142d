"""Pure matching of processes, commands and downloaded files against a Catalogue.

The process sensor calls ``identify_process`` for every new process, so each
Catalogue gets lookup tables built once (dicts keyed by normalised lower-case
name) and cached for as long as that Catalogue object lives.

Matching policy (why it is shaped like this):

- process name first: the current OS's names, then any OS's (Wine runs
  Windows tools on Linux; a portable copy keeps its Windows name);
- a renamed executable is still recognised by its PE version resource
  (OriginalFileName or ProductName) or by its code signer;
- company and signer names identify a tool on their own only for
  ``vendor_exclusive`` tools (AnyDesk Software GmbH makes only AnyDesk);
  a Microsoft or Google signature says nothing by itself, otherwise every
  Windows binary would be "Quick Assist";
- the vendor's outgoing viewers (``viewer_processes``, e.g. vncviewer) never
  identify the tool: they connect *from* this PC, which is not a scam;
- a bundled (high-confidence) entry beats an imported (low) one.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agent.catalogue.model import Catalogue, ScareTactic, Tool
from agent.events import Confidence, MatchedBy, PathClass, PeInfo, ToolMatch

_CN = re.compile(r"(?:^|[,/]\s*)CN=([^,/]+)", re.IGNORECASE)
# Where a renamed portable tool is run from; PE metadata is read only there.
_PE_WORTH = frozenset({PathClass.DOWNLOADS, PathClass.TEMP, PathClass.DESKTOP, PathClass.OTHER})


def _key(name: str) -> str:
    """Case-folded executable name without a trailing ".exe" (Windows hides it anyway)."""
    n = name.strip().lower()
    return n[:-4] if n.endswith(".exe") else n


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path)[-1] if path else ""


def _signer_names(signer: str) -> set[str]:
    """The signer as given and, if it is a distinguished name, its CN."""
    s = signer.strip().lower()
    found = {s}
    found.update(m.strip().lower() for m in _CN.findall(signer))
    return found


@dataclass
class _Index:
    by_os: dict[str, dict[str, list[Tool]]] = field(default_factory=dict)
    any_os: dict[str, list[Tool]] = field(default_factory=dict)
    viewers: dict[str, set[str]] = field(default_factory=dict)  # name key -> tool ids
    original: dict[str, list[Tool]] = field(default_factory=dict)
    product: dict[str, list[Tool]] = field(default_factory=dict)
    company: dict[str, list[Tool]] = field(default_factory=dict)  # exclusive vendors only
    signer: dict[str, list[Tool]] = field(default_factory=dict)  # exclusive vendors only
    corroborating: dict[str, list[Tool]] = field(default_factory=dict)  # all signers
    files: list[tuple[re.Pattern[str], Tool]] = field(default_factory=list)
    tactic_names: dict[str, list[ScareTactic]] = field(default_factory=dict)
    tactic_cmd: list[tuple[re.Pattern[str], ScareTactic]] = field(default_factory=list)
    pe_useful: bool = False


def _add(table: dict[str, list[Tool]], key: str, tool: Tool) -> None:
    bucket = table.setdefault(key, [])
    if tool not in bucket:
        bucket.append(tool)


def _build(catalogue: Catalogue) -> _Index:
    idx = _Index()
    # High-confidence tools first so that, for a shared name, the curated entry wins.
    tools = sorted(catalogue.tools, key=lambda t: t.confidence is not Confidence.HIGH)
    for tool in tools:
        for os_name, names in tool.process_names:
            table = idx.by_os.setdefault(os_name, {})
            for n in names:
                _add(table, _key(n), tool)
                _add(idx.any_os, _key(n), tool)
        for n in tool.viewer_names:
            idx.viewers.setdefault(_key(n), set()).add(tool.tool_id)
        for n in tool.pe.original_filenames:
            _add(idx.original, _key(n), tool)
        for n in tool.pe.product_names:
            _add(idx.product, n.strip().lower(), tool)
        for n in tool.signers:
            _add(idx.corroborating, n.strip().lower(), tool)
        if tool.vendor_exclusive:
            for n in tool.pe.company_names:
                _add(idx.company, n.strip().lower(), tool)
            for n in tool.signers:
                _add(idx.signer, n.strip().lower(), tool)
        if tool.file_patterns:
            rx = "|".join(fnmatch.translate(p) for p in tool.file_patterns)
            idx.files.append((re.compile(rx, re.IGNORECASE), tool))
    idx.pe_useful = bool(idx.original or idx.product or idx.company or idx.signer)
    _build_tactics(idx, catalogue)
    return idx


def _build_tactics(idx: _Index, catalogue: Catalogue) -> None:
    for tactic in catalogue.scare_tactics:
        for n in tactic.process_names:
            idx.tactic_names.setdefault(_key(n), []).append(tactic)
        for pattern in tactic.cmdline_patterns:
            idx.tactic_cmd.append((re.compile(pattern, re.IGNORECASE), tactic))


_cache: dict[int, tuple[weakref.ref[Catalogue], _Index]] = {}
_cache_lock = threading.Lock()


def _index(catalogue: Catalogue) -> _Index:
    """The lookup tables for this Catalogue object (built once, dropped with it)."""
    key = id(catalogue)
    entry = _cache.get(key)
    if entry is not None and entry[0]() is catalogue:
        return entry[1]
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None and entry[0]() is catalogue:
            return entry[1]
        idx = _build(catalogue)
        ref = weakref.ref(catalogue, _forget(key))
        _cache[key] = (ref, idx)
        return idx


def _forget(key: int) -> Callable[[weakref.ref[Catalogue]], None]:
    """A weakref callback that drops the tables of a Catalogue that is gone."""

    def drop(_ref: weakref.ref[Catalogue]) -> None:
        _cache.pop(key, None)

    return drop


def _first(candidates: list[Tool] | None, excluded: set[str]) -> Tool | None:
    for tool in candidates or ():
        if tool.tool_id not in excluded:
            return tool
    return None


def _incoming(tool: Tool, names: set[str], cmdline: Sequence[str]) -> bool:
    """True when a command line has the tool's incoming-session shape."""
    if not tool.incoming_sessions:
        return False
    tokens = [t.lower() for arg in cmdline for t in arg.split()]
    for pattern in tool.incoming_sessions:
        if _key(pattern.process) not in names:
            continue
        want = iter(tokens)
        if all(any(tok == a.lower() for tok in want) for a in pattern.args):
            return True
    return False


def identify_process(
    catalogue: Catalogue,
    *,
    os_name: str,
    name: str,
    exe: str,
    cmdline: Sequence[str],
    pe: PeInfo | None,
) -> ToolMatch | None:
    """Which catalogue tool this process is, if any (by name, PE metadata or signer)."""
    idx = _index(catalogue)
    names = {k for k in (_key(name), _key(_basename(exe))) if k}
    names_pe = {_key(pe.original_filename)} if pe is not None and pe.original_filename else set()
    # A vendor's outgoing viewer, by its name or its original file name.
    excluded: set[str] = set()
    for k in names | names_pe:
        excluded |= idx.viewers.get(k, set())
    tool: Tool | None = None
    how = MatchedBy.PROCESS_NAME
    table = idx.by_os.get(os_name, {})
    for k in names:
        tool = _first(table.get(k), excluded)
        if tool:
            break
    if tool is None:
        for k in names:
            tool = _first(idx.any_os.get(k), excluded)
            if tool:
                break
    if tool is None and pe is not None:
        how = MatchedBy.PE_METADATA
        tool = _match_pe(idx, pe, excluded)
        if tool is None:
            how = MatchedBy.SIGNER
            tool = _match_signer(idx, pe, excluded)
    if tool is None:
        return None
    return ToolMatch(
        tool_id=tool.tool_id,
        display_name=tool.display_name,
        matched_by=how,
        confidence=tool.confidence,
        incoming_session=_incoming(tool, names | names_pe, cmdline),
    )


def _match_pe(idx: _Index, pe: PeInfo, excluded: set[str]) -> Tool | None:
    if pe.original_filename:
        tool = _first(idx.original.get(_key(pe.original_filename)), excluded)
        if tool:
            return tool
    if pe.product_name:
        tool = _first(idx.product.get(pe.product_name.strip().lower()), excluded)
        if tool:
            return tool
    if pe.company_name:
        return _first(idx.company.get(pe.company_name.strip().lower()), excluded)
    return None


def _match_signer(idx: _Index, pe: PeInfo, excluded: set[str]) -> Tool | None:
    if not pe.signer:
        return None
    for n in _signer_names(pe.signer):
        tool = _first(idx.signer.get(n), excluded)
        if tool:
            return tool
    return None


def needs_pe(catalogue: Catalogue, *, name: str, exe: str, path_class: PathClass | str) -> bool:
    """Whether reading this executable's PE metadata could identify a renamed tool.

    Only Windows executables in user-writable places (Downloads, Desktop, temp,
    elsewhere) are worth it: a name the catalogue already knows needs no
    confirmation, and installed software under Program Files / System is
    matched by name (reading every system binary would cost CPU for nothing).
    """
    idx = _index(catalogue)
    if not idx.pe_useful:
        return False
    if not (exe.lower().endswith(".exe") or name.lower().endswith(".exe")):
        return False
    try:
        where = PathClass(path_class)
    except ValueError:
        return False
    if where not in _PE_WORTH:
        return False
    keys = {_key(name), _key(_basename(exe))}
    return not any(k in idx.any_os or k in idx.viewers for k in keys if k)


def scare_tactic(
    catalogue: Catalogue, *, name: str, cmdline: Sequence[str], parent_name: str
) -> str | None:
    """The id of the scare tactic this process is (e.g. "eventvwr", "tree"), or None.

    A tactic matches by its process name (with ``parents`` limiting the
    parent), or by a command-line regex (with ``hosts`` limiting the process
    itself or its parent): "cmd /c tree" and tree.com started from cmd are
    both "tree", while a browser whose URL mentions netstat is nothing.
    """
    idx = _index(catalogue)
    me, parent = _key(name), _key(parent_name)
    for tactic in idx.tactic_names.get(me, ()):
        if not tactic.parents or parent in {_key(h) for h in tactic.parents}:
            return tactic.tactic_id
    if not idx.tactic_cmd:
        return None
    joined = " ".join(cmdline)
    if not joined:
        return None
    for rx, tactic in idx.tactic_cmd:
        hosts = {_key(h) for h in tactic.hosts}
        if hosts and me not in hosts and parent not in hosts:
            continue
        if rx.search(joined):
            return tactic.tactic_id
    return None


def match_installer(catalogue: Catalogue, *, file_name: str, pe: PeInfo | None) -> Tool | None:
    """The tool whose installer or portable executable this downloaded file is, if any."""
    idx = _index(catalogue)
    base = _basename(file_name)
    for rx, tool in idx.files:
        if rx.match(base):
            return tool
    if pe is None:
        return None
    return _match_pe(idx, pe, set()) or _match_signer(idx, pe, set())
