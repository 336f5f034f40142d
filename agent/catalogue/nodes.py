"""Typed, line-aware access to a composed YAML node tree; every misfit becomes a Problem.

Why nodes: PyYAML's composed node tree keeps each value's position
(``start_mark``), so a message can point at ``file:line`` of the very field that
is wrong; ``yaml.safe_load`` throws the positions away. Nothing stops at the
first problem: the reader records it, returns None (or drops the item) and the
caller carries on, so one ``signatures check`` run lists every mistake.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Iterator
from typing import Any

from ratwatch_proto.limits import SLUG, SLUG_MAX_CHARS, is_reserved
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.errors import Problem

# Second-level suffixes under which "*.suffix" would cover millions of sites.
_PUBLIC_SUFFIXES = frozenset(
    {"co.uk", "com.au", "co.jp", "com.br", "com.cn", "co.in", "co.nz", "co.za", "com.tr"}
)
# Unanchored, used with fullmatch: "$" would also accept a trailing newline.
_HOST = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")
_NAME_BAD = re.compile(r"[\\/*?\[\]<>:\"|\x00-\x1f]")

STR_TAG = "tag:yaml.org,2002:str"  # a YAML scalar written as text
_STR = STR_TAG
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    short = node.tag.rsplit(":", 1)[-1]
    return {"str": "text", "int": "a number", "float": "a number", "null": "nothing"}.get(
        short, f"a {short}"
    )


class NodeReader:
    """Typed accessors over YAML nodes that record a Problem instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._constructor = SafeConstructor()

    def report(self, node: Node | None, where: str, message: str) -> None:
        """Record one problem at ``node``'s line."""
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.file, line, where, message))

    def where(self, node: Node, section: str, index: int) -> str:
        """``section[id]`` when the entry has a valid id, else ``section[index]``."""
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if (
                    isinstance(key, ScalarNode)
                    and key.value == "id"
                    and isinstance(value, ScalarNode)
                    and SLUG.fullmatch(str(value.value))
                ):
                    return f"{section}[{value.value}]"
        return f"{section}[{index}]"

    def mapping(
        self, node: Node, where: str, keys: Collection[str], required: Collection[str] = ()
    ) -> dict[str, Node] | None:
        """The mapping's values by key; unknown and repeated keys are problems."""
        if not isinstance(node, MappingNode):
            self.report(node, where, f"expected a mapping (key: value), got {_kind(node)}")
            return None
        out: dict[str, Node] = {}
        for key_node, value in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else None
            sub = f"{where}.{name}" if where else str(name)
            if not isinstance(name, str) or key_node.tag != _STR:
                self.report(key_node, where or "(top)", f"a key must be a plain word, got {name!r}")
            elif name not in keys:
                self.report(
                    key_node, sub, f"unknown key {name!r}; valid keys: {', '.join(sorted(keys))}"
                )
            elif name in out:
                self.report(key_node, sub, "key given twice (YAML would silently keep only one)")
            else:
                out[name] = value
        for name in required:
            if name not in out:
                self.report(node, f"{where}.{name}" if where else name, "missing (required)")
        return out

    def sequence(self, node: Node, where: str) -> list[Node]:
        """The items of a list (a single scalar is a problem, not a one-item list)."""
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, SequenceNode):
            self.report(node, where, f"expected a list, got {_kind(node)}")
            return []
        return list(node.value)

    def text(self, node: Node, where: str, *, numbers_ok: bool = False) -> str | None:
        """A non-empty string (numbers too when ``numbers_ok``, e.g. command-line args)."""
        allowed = (_STR, _INT, _FLOAT) if numbers_ok else (_STR,)
        if not isinstance(node, ScalarNode) or node.tag not in allowed:
            self.report(node, where, f"expected text, got {_kind(node)}")
            return None
        # Not stripped: a phrase's spaces can be meaningful (" scam" = word start).
        value = str(node.value)
        if not value.strip():
            self.report(node, where, "must not be empty")
            return None
        return value

    def integer(self, node: Node, where: str, low: int, high: int) -> int | None:
        """An integer in [low, high]."""
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.report(node, where, f"expected a whole number, got {_kind(node)}")
            return None
        value = self._construct(node, where)
        if not isinstance(value, int):
            return None
        if not low <= value <= high:
            self.report(node, where, f"{value} is out of range {low}..{high}")
            return None
        return value

    def number(self, node: Node, where: str, high: float) -> float | None:
        """A number in [0, high]."""
        if not isinstance(node, ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.report(node, where, f"expected a number, got {_kind(node)}")
            return None
        value = self._construct(node, where)
        if not isinstance(value, (int, float)) or math.isnan(value):
            self.report(node, where, "expected a number")
            return None
        if not 0 <= value <= high:
            self.report(node, where, f"{value} is out of range 0..{high:g}")
            return None
        return float(value)

    def boolean(self, node: Node, where: str) -> bool | None:
        """true or false."""
        if not isinstance(node, ScalarNode) or node.tag != _BOOL:
            self.report(node, where, f"expected true or false, got {_kind(node)}")
            return None
        value = self._construct(node, where)
        return value if isinstance(value, bool) else None

    def choice(self, node: Node, where: str, choices: Collection[str]) -> str | None:
        """One of a fixed set of words."""
        value = self.text(node, where)
        if value is not None and value not in choices:
            self.report(node, where, f"{value!r} is not one of: {', '.join(choices)}")
            return None
        return value

    def slug(self, node: Node, where: str) -> str | None:
        """A stable id: a wire slug (ratwatch_proto.limits), outside the reserved ``ratwatch.``."""
        value = self.text(node, where)
        if value is not None and not SLUG.fullmatch(value):
            self.report(
                node,
                where,
                f"{value!r} is not a valid id: use 1-{SLUG_MAX_CHARS} of a-z 0-9 _ . - "
                "starting with a letter or digit",
            )
            return None
        if value is not None and is_reserved(value):
            # The outbox refuses these: such an entry would be detected but never counted.
            self.report(node, where, f"{value!r} is reserved: no catalogue id starts 'ratwatch.'")
            return None
        return value

    def texts(self, node: Node | None, where: str, check: Any = None) -> tuple[str, ...]:
        """A list of strings; ``check(value) -> message | None`` rejects single items."""
        if node is None:
            return ()
        out: list[str] = []
        seen: set[str] = set()
        for i, item in enumerate(self.sequence(node, where)):
            value = self.text(item, f"{where}[{i}]")
            if value is None:
                continue
            message = check(value) if check else None
            if message:
                self.report(item, f"{where}[{i}]", message)
                continue
            # Exact repeats only: "Zoiper" and "zoiper" may both be listed for clarity.
            if value in seen:
                self.report(item, f"{where}[{i}]", f"{value!r} is listed twice")
                continue
            seen.add(value)
            out.append(value)
        return tuple(out)

    def _construct(self, node: ScalarNode, where: str) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ConstructorError, ValueError) as exc:
            self.report(node, where, f"unreadable value: {exc}")
            return None


def check_process_name(value: str) -> str | None:
    """A bare executable name: no folders, no wildcards."""
    if _NAME_BAD.search(value):
        return f"{value!r} must be a bare process name (no path, no wildcard)"
    return None


def check_regex(value: str) -> str | None:
    """A regular expression that compiles."""
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:
        return f"regular expression {value!r} does not compile: {exc}"
    return None


def check_file_pattern(value: str) -> str | None:
    """An fnmatch pattern specific enough that it cannot match everyday downloads."""
    if "/" in value or "\\" in value:
        return f"{value!r} must be a file-name pattern, not a path"
    stem = value.rsplit(".", 1)[0] if "." in value else value
    literal = re.sub(r"\[[^\]]*\]|[*?]", "", stem)
    if sum(c.isalnum() for c in literal) < 3:
        return f"{value!r} is too broad: give at least 3 letters of the tool's own name"
    return None


def check_host(value: str) -> str | None:
    """A host name or ``*.domain``: no regex, no port, no bare word, no whole TLD."""
    host = value.lower()
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return f"{value!r} is an IP address; list host names (addresses change hands)"
    if ":" in host:
        return f"{value!r} must be a host name without a port (ports go under ports)"
    if host.startswith("*."):
        rest = host[2:]
        if "." not in rest or rest in _PUBLIC_SUFFIXES or rest.endswith(".local"):
            return f"{value!r} is far too broad: it covers a whole top-level domain"
    if not _HOST.fullmatch(host):
        return (
            f"{value!r} is not a host name or '*.domain' (regular expressions and "
            "globs inside labels are not supported)"
        )
    return None


class AnyKey(Collection[str]):
    """Accepts every key (rule names are open-ended)."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
