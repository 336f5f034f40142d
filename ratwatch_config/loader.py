"""Read a TOML file and build a program's frozen config dataclasses from it.

Types are checked by msgspec: ``msgspec.convert`` validates plain frozen
dataclasses, so each program keeps its config as ordinary dataclasses with
named defaults, and a field added there is loaded and checked with no change
here. Strict mode is what TOML needs: an integer is taken for a float, but
never a boolean for an integer or a string for a number; an array becomes a
tuple; ``X | None`` and other unions work the same for both programs.

msgspec ignores unknown fields of a dataclass, so unknown sections and keys
are found here, before conversion: a typo must never fall back to a default
without a word. TOML allows ``nan`` and ``inf``, which slip through every
range check (``nan <= 0`` is false), so no setting may be one.

Every problem is one ``ConfigInvalid`` line naming the file, the key as it is
written in the file (``[agent].log_level``) and what would be valid.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from ratwatch_config.errors import ConfigInvalid

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")

# The log levels both programs accept for their ``log_level`` key (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The field that remembers which file a config came from; not a TOML key.
SOURCE_FIELD = "source"

# msgspec's names for the types it expected, in the words of a TOML file.
_TOML_WORDS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "array": "a list",
    "object": "a table",
}
_MSGSPEC_ERROR = re.compile(r"(?P<text>.*) - at `\$(?P<path>[^`]*)`", re.DOTALL)
_EXPECTED = re.compile(r"Expected `(?P<expected>[^`]+)`, got `[^`]+`")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML file; an absent, unreadable or malformed file is a ConfigInvalid."""
    source = str(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigInvalid(source, "", "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(source, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigInvalid(source, "", "not valid TOML: the file is not UTF-8 text") from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigInvalid(source, "", f"cannot read the config file: {why}") from None


def sections(cls: type[DataclassInstance]) -> dict[str, type[DataclassInstance]]:
    """The TOML sections of a config class: its fields whose type is a dataclass."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cls)
        if isinstance(hints[f.name], type) and dataclasses.is_dataclass(hints[f.name])
    }


def build(cls: type[C], data: Mapping[str, Any], source: str) -> C:
    """Build ``cls`` from parsed TOML (``[section]`` tables of ``key = value``).

    The config's ``source`` field, when it has one, is set to ``source``; it is
    never read from the file.
    """
    known = sections(cls)
    _check_keys(data, known, source)
    payload = dict(data)
    if any(f.name == SOURCE_FIELD for f in dataclasses.fields(cls)):
        payload[SOURCE_FIELD] = source
    try:
        return msgspec.convert(payload, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise _explain(str(exc), data, source) from None


def load(cls: type[C], path: Path) -> C:
    """Read ``path`` and build ``cls`` from it; every problem is one ConfigInvalid."""
    return build(cls, read_toml(path), str(path))


def _check_keys(
    data: Mapping[str, Any], known: Mapping[str, type[DataclassInstance]], source: str
) -> None:
    """Unknown sections or keys, a section that is not a table, or a nan/inf value."""
    for name, table in data.items():
        if name not in known:
            valid = ", ".join(f"[{s}]" for s in known)
            raise ConfigInvalid(source, f"[{name}]", f"unknown section; valid sections: {valid}")
        if not isinstance(table, dict):
            raise ConfigInvalid(source, f"[{name}]", f"expected a table, got {_describe(table)}")
        keys = sorted(f.name for f in dataclasses.fields(known[name]))
        for key, value in table.items():
            if key not in keys:
                raise ConfigInvalid(
                    source, f"[{name}].{key}", f"unknown key; valid keys: {', '.join(keys)}"
                )
            _check_finite(value, f"[{name}].{key}", source)


def _check_finite(value: Any, key: str, source: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigInvalid(source, key, f"expected a finite number, got {value}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{key}[{i}]", source)


def _explain(message: str, data: Mapping[str, Any], source: str) -> ConfigInvalid:
    """msgspec's "Expected `int`, got `str` - at `$.a.b`" as a line in TOML's words."""
    where = _MSGSPEC_ERROR.fullmatch(message)
    if where is None:  # pragma: no cover - msgspec always names the location
        return ConfigInvalid(source, "", message)
    key, value = _key_and_value(where["path"], data)
    text = where["text"]
    expected = _EXPECTED.fullmatch(text)
    if expected is None:
        # A constraint or a dataclass's own check: msgspec's words, as they are.
        return ConfigInvalid(source, key, text[:1].lower() + text[1:])
    # TOML has no null: an optional setting is left out, so "null" is no advice.
    words = [_TOML_WORDS.get(t, t) for t in expected["expected"].split(" | ") if t != "null"]
    return ConfigInvalid(source, key, f"expected {' or '.join(words)}, got {_describe(value)}")


def _key_and_value(path: str, data: Mapping[str, Any]) -> tuple[str, Any]:
    """``.agent.log_level`` -> (``[agent].log_level``, the value in ``data``)."""
    key = ""
    value: Any = data
    for name, index in _PATH_PART.findall(path):
        if name:
            key = f"[{name}]" if not key else f"{key}.{name}"
            value = value.get(name) if isinstance(value, dict) else None
        else:
            key = f"{key}[{index}]"
            value = value[int(index)] if isinstance(value, list) else None
    return key, value


def _describe(value: Any) -> str:
    """A value as the file wrote it, cut short (an error must not echo a whole file)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    kind = {str: "the string", int: "the integer", float: "the number"}.get(type(value), "")
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{kind} {text}" if kind else f"{type(value).__name__} {text}"
