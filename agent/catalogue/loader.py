"""Load and validate the detection content: bundled signature files plus configured extras.

Every problem in every file is collected (``file:line: field: message``) before
anything is rejected, so a content author fixes a file in one pass. The
running agent holds its catalogue in a ``CatalogueHolder``: a broken update is
refused as a whole and the last good set stays in force.

Merging rules (documented in signatures/README.md):

- files are read in order: the bundled ``remote_tools.yaml``,
  ``scam_context.yaml``, ``rules.yaml``, then each extra file as configured;
- an id used twice inside one file is an error;
- an id already defined by an earlier file (e.g. a LOLRMM import that also
  lists TeamViewer) is *not* an error: the earlier entry wins and the later
  one is skipped with a note. Operators expect an import to add what the
  bundled content lacks, never to weaken or replace a curated entry;
- ``rules:`` in a later file overrides the keys it sets;
- the catalogue version is the first one declared (the bundled files').
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

from agent.catalogue.model import Catalogue, Rules
from agent.catalogue.schema import FileContent, read_file
from agent.errors import Problem, SignatureError
from agent.redact import redact_home

log = logging.getLogger(__name__)

# The package ``ratwatch_signatures`` is the repository's signatures/ folder
# (see pyproject's package-dir); it is looked up by name so type checking does
# not need the folder mapping.
PACKAGE = "ratwatch_signatures"
BUNDLED = ("remote_tools.yaml", "scam_context.yaml", "rules.yaml")


def bundled_paths() -> list[Path]:
    """The packaged signature files, in load order."""
    # The package is installed as plain files (setuptools package-data), so the
    # resources are real paths we can stat for reloads.
    return [Path(str(files(PACKAGE).joinpath(name))) for name in BUNDLED]


def _read(path: Path) -> tuple[FileContent, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FileContent(), [Problem(str(path), 0, "file", "not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return FileContent(), [Problem(str(path), 0, "file", f"cannot read: {exc}")]
    return read_file(str(path), text)


# FileContent attribute -> the YAML key it came from (for messages).
_YAML_SECTION = {
    "tools": "tools",
    "tactics": "scare_tactics",
    "pages": "pages",
    "softphones": "softphones",
}


def _merge(paths: Sequence[Path]) -> tuple[Catalogue | None, list[Problem]]:
    problems: list[Problem] = []
    notes: list[str] = []
    version: int | None = None
    rules: dict[str, Any] = {}
    sections: dict[str, dict[str, tuple[Any, str, int]]] = {
        "tools": {},
        "tactics": {},
        "pages": {},
        "softphones": {},
    }
    exclusive_signers: dict[str, tuple[str, str, int]] = {}
    for path in paths:
        content, found = _read(path)
        problems.extend(found)
        file = str(path)
        if version is None and content.version is not None:
            version = content.version
        for section, entries in sections.items():
            local: dict[str, int] = {}
            items: list[tuple[Any, int]] = getattr(content, section)
            label = _YAML_SECTION[section]
            for value, line in items:
                key = _id_of(value)
                if key in local:
                    problems.append(
                        Problem(
                            file,
                            line,
                            f"{label}[{key}].id",
                            f"duplicate id; first defined at line {local[key]}",
                        )
                    )
                    continue
                local[key] = line
                if key in entries:
                    _, first_file, first_line = entries[key]
                    notes.append(
                        f"{file}:{line}: {label}[{key}] skipped: already defined at "
                        f"{first_file}:{first_line}"
                    )
                    continue
                entries[key] = (value, file, line)
        for value, line in content.tools:
            if not value.vendor_exclusive:
                continue
            for name in (*value.signers, *value.pe.company_names):
                owner = exclusive_signers.setdefault(name.lower(), (value.tool_id, file, line))
                if owner[0] != value.tool_id:
                    problems.append(
                        Problem(
                            file,
                            line,
                            f"tools[{value.tool_id}].vendor_exclusive",
                            f"{name!r} is also claimed by {owner[0]} ({owner[1]}:{owner[2]}); "
                            "a name shared by two tools cannot be exclusive",
                        )
                    )
        rules.update(content.rules)
    if problems:
        order = {str(p): i for i, p in enumerate(paths)}
        problems.sort(key=lambda p: (order.get(p.file, len(order)), p.line))
        return None, problems
    catalogue = Catalogue(
        version=version or 0,
        tools=tuple(v for v, _, _ in sections["tools"].values()),
        scare_tactics=tuple(v for v, _, _ in sections["tactics"].values()),
        pages=tuple(v for v, _, _ in sections["pages"].values()),
        rules=Rules(**rules),
        sources=tuple(str(p) for p in paths),
        softphones=tuple(v for v, _, _ in sections["softphones"].values()),
        notes=tuple(notes),
    )
    return catalogue, []


def _id_of(value: Any) -> str:
    for attr in ("tool_id", "tactic_id", "pattern_id", "softphone_id"):
        if hasattr(value, attr):
            return str(getattr(value, attr))
    raise TypeError(f"not a catalogue entry: {value!r}")


def load_files(paths: Sequence[Path]) -> Catalogue:
    """Load exactly these files in order; raises SignatureError listing every problem."""
    catalogue, problems = _merge(paths)
    if catalogue is None:
        raise SignatureError(problems)
    return catalogue


def load_catalogue(extra_files: Sequence[Path] = ()) -> Catalogue:
    """The bundled signatures plus ``extra_files``; raises SignatureError listing every problem."""
    return load_files([*bundled_paths(), *(Path(p) for p in extra_files)])


def check_files(paths: Iterable[Path]) -> list[Problem]:
    """Every problem in these files read together (empty = valid)."""
    return _merge([Path(p) for p in paths])[1]


_Stamp = tuple[tuple[str, int, int] | None, ...]


def _stamp(paths: Sequence[Path]) -> _Stamp:
    out: list[tuple[str, int, int] | None] = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
        else:
            out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


class CatalogueHolder:
    """The agent's current catalogue, reloaded when a file changes; a broken update is refused.

    At start, a broken *extra* file does not stop the agent: it runs on the
    bundled content alone and says so (protection beats an operator's typo).
    Broken bundled content raises: there is nothing good to fall back to.
    """

    def __init__(self, extra_files: Sequence[Path] = ()) -> None:
        self._paths = [*bundled_paths(), *(Path(p) for p in extra_files)]
        self._lock = threading.Lock()
        self._stamp = _stamp(self._paths)
        catalogue, problems = _merge(self._paths)
        if catalogue is None:
            self._log_rejected(problems, kept="the bundled signatures only")
            catalogue = load_files(self._paths[: len(BUNDLED)])
        self._current = catalogue
        self.problems: list[Problem] = problems

    def current(self) -> Catalogue:
        """The catalogue in force (safe from any thread)."""
        with self._lock:
            return self._current

    def maybe_reload(self) -> list[Problem]:
        """Reload if any file's mtime or size changed; on problems keep the last good set."""
        stamp = _stamp(self._paths)
        with self._lock:
            if stamp == self._stamp:
                return []
            self._stamp = stamp
        catalogue, problems = _merge(self._paths)
        with self._lock:
            self.problems = problems
            if catalogue is None:
                good = self._current
            else:
                self._current = catalogue
        if catalogue is None:
            self._log_rejected(
                problems, kept=f"version {good.version} with {len(good.tools)} tools"
            )
            return problems
        log.info(
            "signatures reloaded: version %s, %d tools, %d scare tactics, %d pages",
            catalogue.version,
            len(catalogue.tools),
            len(catalogue.scare_tactics),
            len(catalogue.pages),
        )
        return []

    @staticmethod
    def _log_rejected(problems: Sequence[Problem], *, kept: str) -> None:
        log.error(
            "signature update rejected (%d problems); keeping the last good set: %s\n%s",
            len(problems),
            kept,
            redact_home("\n".join(f"  {p}" for p in problems)),
        )
