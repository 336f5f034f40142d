"""Editing lists in the collector's TOML config (token hashes, tool decisions) and nothing else.

tomlkit keeps the operator's comments, order and formatting; the file is
replaced atomically so a crash mid-write never leaves half a config behind.
A new file is created readable by its owner only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.exceptions import TOMLKitError

from collector.errors import ConfigError


def add_token_hash(path: Path, role: str, token_hash: str) -> None:
    """Append ``token_hash`` to ``[tokens].<role>`` in the config at ``path``."""
    edit_list(path, "tokens", role, add=(token_hash,))


def edit_list(
    path: Path, section: str, key: str, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
) -> None:
    """Add (once) and remove values of the list ``[section].key`` in the config at ``path``."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        doc = tomlkit.parse(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = doc.get(section)
    if table is None:
        table = tomlkit.table()
        doc[section] = table
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    values = table.get(key)
    if values is None:
        values = tomlkit.array()
        values.multiline(True)
        table[key] = values
    if not isinstance(values, list):
        raise ConfigError(f"{path}: [{section}].{key} must be a list")
    for value in remove:
        while value in values:
            values.remove(value)
    for value in add:
        if value not in values:
            values.append(value)
    _write_atomically(path, tomlkit.dumps(doc))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write config: {exc.strerror}") from exc
