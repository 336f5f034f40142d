"""Adding a token hash to the collector's TOML config without disturbing the rest of it.

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
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        doc = tomlkit.parse(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    tokens = doc.get("tokens")
    if tokens is None:
        tokens = tomlkit.table()
        doc["tokens"] = tokens
    if not isinstance(tokens, dict):
        raise ConfigError(f"{path}: [tokens] must be a table")
    hashes = tokens.get(role)
    if hashes is None:
        hashes = tomlkit.array()
        hashes.multiline(True)
        tokens[role] = hashes
    if not isinstance(hashes, list):
        raise ConfigError(f"{path}: [tokens].{role} must be a list of hashes")
    hashes.append(token_hash)
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
