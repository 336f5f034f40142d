"""Build catalogue values from one signature file, collecting every problem.

Each ``build_*`` function reads one entry through a ``NodeReader`` (which
records problems with file and line) and returns the value, or None when the
entry is unusable. The schema is documented field by field in
``signatures/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from ratwatch_proto.limits import SLUG
from yaml.nodes import Node, ScalarNode

from agent.catalogue.model import (
    IncomingSession,
    PagePattern,
    PeMatch,
    PortRange,
    ScareTactic,
    Softphone,
    Tool,
)
from agent.catalogue.nodes import (
    STR_TAG,
    AnyKey,
    NodeReader,
    check_file_pattern,
    check_host,
    check_process_name,
    check_regex,
)
from agent.catalogue.rules import RULES
from agent.errors import Problem
from agent.events import Confidence

SCHEMA_VERSION = 1
# libyaml's parser keeps the same line marks and composes ~20x faster than the
# pure-Python one (the agent re-reads catalogues at start and on every change).
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
OS_NAMES = ("windows", "macos", "linux")
PAGE_KINDS = ("scareware", "banking", "payment", "gift_card")
LEVEL_NAMES = ("none", "note", "warn", "alert")
# Ports every program uses: a connection on them says nothing about a remote tool.
GENERIC_PORTS = frozenset({53, 80, 443})
# A port range wider than this would cover unrelated programs' ports too (VNC: 100).
MAX_RANGE_PORTS = 1000
_RANGE = re.compile(r"(\d{1,5})\s*-\s*(\d{1,5})")

TOP_KEYS = ("schema", "version", "tools", "scare_tactics", "pages", "softphones", "rules")
TOOL_KEYS = (
    "id",
    "name",
    "processes",
    "viewer_processes",
    "files",
    "pe",
    "signers",
    "vendor_exclusive",
    "domains",
    "ports",
    "vendor_hosts",
    "incoming_sessions",
    "session_while_running",
    "confidence",
    "notes",
)
PE_KEYS = ("original_filename", "product", "company")
SESSION_KEYS = ("process", "args")
TACTIC_KEYS = ("id", "description", "processes", "parents", "cmdline", "hosts")
PAGE_KEYS = (
    "id",
    "kind",
    "language",
    "title_phrases",
    "title_regexes",
    "url_regexes",
    "hosts",
    "exclude_phrases",
    "exclude_hosts",
)
SOFTPHONE_KEYS = ("id", "name", "processes")
RULE_NUMBERS: dict[str, float] = {
    # field -> largest sensible value (a typo like 3000 minutes is an error)
    "call_window_minutes": 24 * 60,
    "scareware_window_minutes": 24 * 60,
    "installer_window_minutes": 24 * 60,
    "long_installed_days": 3650,
    "trust_hours": 24 * 30,
}
RULE_KEYS = (*RULE_NUMBERS, "levels")


@dataclass
class FileContent:
    """What one file contributed, each value paired with the line it came from."""

    version: int | None = None
    tools: list[tuple[Tool, int]] = field(default_factory=list)
    tactics: list[tuple[ScareTactic, int]] = field(default_factory=list)
    pages: list[tuple[PagePattern, int]] = field(default_factory=list)
    softphones: list[tuple[Softphone, int]] = field(default_factory=list)
    rules: dict[str, Any] = field(default_factory=dict)  # only the keys the file set
    rules_line: int = 0


def _pe(r: NodeReader, node: Node | None, where: str) -> PeMatch:
    if node is None:
        return PeMatch()
    pm = r.mapping(node, f"{where}.pe", PE_KEYS) or {}
    return PeMatch(
        original_filenames=r.texts(pm.get("original_filename"), f"{where}.pe.original_filename"),
        product_names=r.texts(pm.get("product"), f"{where}.pe.product"),
        company_names=r.texts(pm.get("company"), f"{where}.pe.company"),
    )


def _ports(r: NodeReader, node: Node | None, where: str) -> tuple[PortRange, ...]:
    ports: list[PortRange] = []
    for i, pn in enumerate(r.sequence(node, f"{where}.ports") if node is not None else []):
        at = f"{where}.ports[{i}]"
        if isinstance(pn, ScalarNode) and pn.tag == STR_TAG:
            found = _port_range(r, pn, at)
        else:
            port = r.integer(pn, at, 1, 65535)
            found = PortRange.single(port) if port is not None else None
        if found is None:
            continue
        generic = sorted(p for p in GENERIC_PORTS if p in found)
        if generic:
            r.report(pn, at, f"port {generic[0]} is too generic: all programs use it")
        else:
            ports.append(found)
    return tuple(ports)


def _port_range(r: NodeReader, node: ScalarNode, where: str) -> PortRange | None:
    """A "low-high" range such as "5900-5999" (VNC: 5900 + display number)."""
    m = _RANGE.fullmatch(str(node.value).strip())
    if m is None:
        r.report(node, where, f"expected a port or a range like 5900-5999, got {node.value!r}")
        return None
    low, high = int(m[1]), int(m[2])
    if not 1 <= low <= high <= 65535:
        r.report(node, where, f"{low}-{high} is not a range within 1..65535, low first")
        return None
    if high - low + 1 > MAX_RANGE_PORTS:
        r.report(node, where, f"{low}-{high} spans more than {MAX_RANGE_PORTS} ports")
        return None
    return PortRange(low, high)


def _sessions(r: NodeReader, node: Node | None, where: str) -> tuple[IncomingSession, ...]:
    sessions: list[IncomingSession] = []
    items = r.sequence(node, f"{where}.incoming_sessions") if node is not None else []
    for i, sn in enumerate(items):
        sw = f"{where}.incoming_sessions[{i}]"
        sm = r.mapping(sn, sw, SESSION_KEYS, required=SESSION_KEYS)
        if not sm or "process" not in sm or "args" not in sm:
            continue
        proc = r.text(sm["process"], f"{sw}.process")
        bad = check_process_name(proc) if proc else None
        if bad:
            r.report(sm["process"], f"{sw}.process", bad)
        args = [
            r.text(a, f"{sw}.args[{j}]", numbers_ok=True)
            for j, a in enumerate(r.sequence(sm["args"], f"{sw}.args"))
        ]
        if not args:
            r.report(sm["args"], f"{sw}.args", "give at least one argument")
        if proc and not bad and args and all(args):
            sessions.append(IncomingSession(process=proc, args=tuple(a for a in args if a)))
    return tuple(sessions)


def _hosts(r: NodeReader, node: Node | None, where: str) -> tuple[str, ...]:
    return tuple(h.lower() for h in r.texts(node, where, check_host))


def build_tool(r: NodeReader, node: Node, where: str) -> Tool | None:
    """One entry of ``tools:``."""
    m = r.mapping(node, where, TOOL_KEYS, required=("id", "name"))
    if m is None:
        return None
    tool_id = r.slug(m["id"], f"{where}.id") if "id" in m else None
    name = r.text(m["name"], f"{where}.name") if "name" in m else None
    processes: list[tuple[str, tuple[str, ...]]] = []
    if "processes" in m:
        per_os = r.mapping(m["processes"], f"{where}.processes", OS_NAMES) or {}
        for os_name, names_node in per_os.items():
            names = r.texts(names_node, f"{where}.processes.{os_name}", check_process_name)
            if names:
                processes.append((os_name, names))
    pe = _pe(r, m.get("pe"), where)
    signers = r.texts(m.get("signers"), f"{where}.signers")
    exclusive = False
    if "vendor_exclusive" in m:
        exclusive = bool(r.boolean(m["vendor_exclusive"], f"{where}.vendor_exclusive"))
        if exclusive and not (signers or pe.company_names):
            r.report(
                m["vendor_exclusive"], f"{where}.vendor_exclusive", "needs signers or pe.company"
            )
    while_running = False
    if "session_while_running" in m:
        node_wr = m["session_while_running"]
        while_running = bool(r.boolean(node_wr, f"{where}.session_while_running"))
    confidence = Confidence.HIGH
    if "confidence" in m:
        chosen = r.choice(m["confidence"], f"{where}.confidence", [c.value for c in Confidence])
        confidence = Confidence(chosen) if chosen else Confidence.HIGH
    tool = Tool(
        tool_id=tool_id or "",
        display_name=name or "",
        process_names=tuple(processes),
        file_patterns=r.texts(m.get("files"), f"{where}.files", check_file_pattern),
        pe=pe,
        signers=signers,
        domains=_hosts(r, m.get("domains"), f"{where}.domains"),
        ports=_ports(r, m.get("ports"), where),
        incoming_sessions=_sessions(r, m.get("incoming_sessions"), where),
        vendor_hosts=_hosts(r, m.get("vendor_hosts"), f"{where}.vendor_hosts"),
        confidence=confidence,
        notes=(r.text(m["notes"], f"{where}.notes") or "") if "notes" in m else "",
        source=r.file,
        viewer_names=r.texts(
            m.get("viewer_processes"), f"{where}.viewer_processes", check_process_name
        ),
        vendor_exclusive=exclusive,
        session_while_running=while_running,
    )
    if not (tool.process_names or pe.original_filenames or pe.product_names or signers):
        r.report(node, where, "cannot identify anything: give processes, pe or signers")
    return tool if tool_id and name else None


def build_tactic(r: NodeReader, node: Node, where: str) -> ScareTactic | None:
    """One entry of ``scare_tactics:``."""
    m = r.mapping(node, where, TACTIC_KEYS, required=("id", "description"))
    if m is None:
        return None
    tactic_id = r.slug(m["id"], f"{where}.id") if "id" in m else None
    description = r.text(m["description"], f"{where}.description") if "description" in m else None
    processes = r.texts(m.get("processes"), f"{where}.processes", check_process_name)
    cmdline = r.texts(m.get("cmdline"), f"{where}.cmdline", check_regex)
    hosts = r.texts(m.get("hosts"), f"{where}.hosts", check_process_name)
    parents = r.texts(m.get("parents"), f"{where}.parents", check_process_name)
    if "parents" in m and "processes" not in m:
        r.report(m["parents"], f"{where}.parents", "only applies to processes; give processes")
    if "hosts" in m and "cmdline" not in m:
        r.report(m["hosts"], f"{where}.hosts", "only applies to cmdline; give cmdline")
    if "processes" not in m and "cmdline" not in m:
        r.report(node, where, "give processes or cmdline (or both)")
    if not (tactic_id and description):
        return None
    return ScareTactic(tactic_id, description, processes, cmdline, hosts, parents)


def build_page(r: NodeReader, node: Node, where: str) -> PagePattern | None:
    """One entry of ``pages:``."""
    m = r.mapping(node, where, PAGE_KEYS, required=("id", "kind"))
    if m is None:
        return None
    page_id = r.slug(m["id"], f"{where}.id") if "id" in m else None
    kind = r.choice(m["kind"], f"{where}.kind", PAGE_KINDS) if "kind" in m else None
    language = ""
    if "language" in m:
        language = r.text(m["language"], f"{where}.language") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            r.report(m["language"], f"{where}.language", "use a two-letter code like nl, en, de")
            language = ""
    page = PagePattern(
        pattern_id=page_id or "",
        kind=kind or "",
        title_phrases=r.texts(m.get("title_phrases"), f"{where}.title_phrases"),
        title_regexes=r.texts(m.get("title_regexes"), f"{where}.title_regexes", check_regex),
        url_regexes=r.texts(m.get("url_regexes"), f"{where}.url_regexes", check_regex),
        hosts=_hosts(r, m.get("hosts"), f"{where}.hosts"),
        language=language,
        exclude_phrases=r.texts(m.get("exclude_phrases"), f"{where}.exclude_phrases"),
        exclude_hosts=_hosts(r, m.get("exclude_hosts"), f"{where}.exclude_hosts"),
    )
    if not any(k in m for k in ("title_phrases", "title_regexes", "url_regexes", "hosts")):
        r.report(node, where, "give title_phrases, title_regexes, url_regexes or hosts")
    return page if page_id and kind else None


def build_softphone(r: NodeReader, node: Node, where: str) -> Softphone | None:
    """One entry of ``softphones:``."""
    m = r.mapping(node, where, SOFTPHONE_KEYS, required=SOFTPHONE_KEYS)
    if m is None:
        return None
    phone_id = r.slug(m["id"], f"{where}.id") if "id" in m else None
    name = r.text(m["name"], f"{where}.name") if "name" in m else None
    processes = r.texts(m.get("processes"), f"{where}.processes", check_process_name)
    if not (phone_id and name and processes):
        return None
    return Softphone(phone_id, name, processes)


def build_rules(r: NodeReader, node: Node) -> dict[str, Any]:
    """The ``rules:`` mapping: only the keys given (defaults come from ``Rules``)."""
    m = r.mapping(node, "rules", RULE_KEYS)
    out: dict[str, Any] = {}
    for key, high in RULE_NUMBERS.items():
        if m and key in m:
            value = r.number(m[key], f"rules.{key}", high)
            if value is not None:
                out[key] = value
    if m and "levels" in m:
        levels = r.mapping(m["levels"], "rules.levels", AnyKey())
        pairs: list[tuple[str, str]] = []
        for rule, level_node in (levels or {}).items():
            if not SLUG.fullmatch(rule):
                r.report(level_node, f"rules.levels.{rule}", "rule names are ids (a-z 0-9 _ . -)")
                continue
            if rule not in RULES:
                # A misspelt rule would otherwise be ignored without a word.
                r.report(
                    level_node,
                    f"rules.levels.{rule}",
                    f"unknown rule {rule!r}; known rules: {', '.join(sorted(RULES))}",
                )
                continue
            level = r.choice(level_node, f"rules.levels.{rule}", LEVEL_NAMES)
            if level:
                pairs.append((rule, level))
        out["levels"] = tuple(pairs)
    return out


_SECTIONS = {
    "tools": ("tools", build_tool),
    "scare_tactics": ("tactics", build_tactic),
    "pages": ("pages", build_page),
    "softphones": ("softphones", build_softphone),
}


def read_file(file: str, text: str) -> tuple[FileContent, list[Problem]]:
    """Parse and check one signature file; returns what is usable and every problem."""
    r = NodeReader(file)
    content = FileContent()
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        r.problems.append(Problem(file, line, "yaml", f"not valid YAML: {exc.problem or exc}"))
        return content, r.problems
    except yaml.YAMLError as exc:
        r.problems.append(Problem(file, 0, "yaml", f"not valid YAML: {exc}"))
        return content, r.problems
    if root is None:
        r.problems.append(Problem(file, 1, "schema", "the file is empty"))
        return content, r.problems
    top = r.mapping(root, "", TOP_KEYS, required=("schema",))
    if top is None:
        return content, r.problems
    if "schema" in top:
        schema = r.integer(top["schema"], "schema", 1, 1_000)
        if schema is not None and schema != SCHEMA_VERSION:
            r.report(top["schema"], "schema", f"this agent reads schema {SCHEMA_VERSION} only")
            return content, r.problems
    if "version" in top:
        content.version = r.integer(top["version"], "version", 1, 2**62)
    for key, (attr, builder) in _SECTIONS.items():
        if key not in top:
            continue
        bucket: list[tuple[Any, int]] = getattr(content, attr)
        for i, item in enumerate(r.sequence(top[key], key)):
            built = builder(r, item, r.where(item, key, i))
            if built is not None:
                bucket.append((built, item.start_mark.line + 1))
    if "rules" in top:
        content.rules = build_rules(r, top["rules"])
        content.rules_line = top["rules"].start_mark.line + 1
    return content, r.problems
