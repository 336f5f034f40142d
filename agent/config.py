"""The agent's configuration: frozen dataclasses loaded from one TOML file.

Every key is documented in docs/configuration.md (a test checks that the
table names every field here). Unknown sections or keys are errors, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from ratwatch_proto.regions import region_codes

from agent.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def default_state_dir() -> Path:
    """The per-user state directory (journal, inbox, outbox, suspended-pid record)."""
    return Path(platformdirs.user_state_dir("ratwatch", appauthor=False))


@dataclass(frozen=True)
class AgentSection:
    """[agent] general settings."""

    state_dir: str = ""  # empty = platform default (default_state_dir())
    language: str = ""  # "nl", "en"; empty = from the OS locale
    log_level: str = "INFO"


@dataclass(frozen=True)
class SensorsSection:
    """[sensors] which sensors run and how often they look."""

    enabled: tuple[str, ...] = (
        "processes",
        "sessions",
        "intake",
        "browser",
        "downloads",
        "calls",
    )
    poll_hz: float = 4.0
    process_events: str = "auto"  # "auto" | "netlink" | "poll"
    session_poll_seconds: float = 2.0
    call_poll_seconds: float = 2.0  # how often the calls sensor checks the microphone


@dataclass(frozen=True)
class SignaturesSection:
    """[signatures] extra catalogue files loaded after the bundled ones."""

    extra_catalogues: tuple[str, ...] = ()
    reload_seconds: float = 5.0


@dataclass(frozen=True)
class BrowserSection:
    """[browser] history databases to watch in addition to the default profiles."""

    history_paths: tuple[str, ...] = ()
    default_profiles: bool = True


@dataclass(frozen=True)
class DownloadsSection:
    """[downloads] folders watched for remote-tool installers."""

    watch_dirs: tuple[str, ...] = ()  # empty = the user's Downloads and Desktop


@dataclass(frozen=True)
class DialogSection:
    """[dialog] how the warning is shown and what it offers."""

    backend: str = "auto"  # "auto" | "tk" | "console" | "log"
    suspend_tool: bool = True
    countdown_seconds: int = 30
    trust_hours: float = 8.0
    timeout_seconds: int = 0  # 0 = the dialog waits for a choice
    trusted_contact_name: str = ""
    trusted_contact_phone: str = ""
    helpline_country: str = "NL"  # picks the national fraud helpline
    helpline_name: str = ""  # overrides the country's helpline name
    helpline_phone: str = ""  # overrides the country's helpline number


@dataclass(frozen=True)
class TelemetrySection:
    """[telemetry] anonymised counts sent to a collector."""

    enabled: bool = True
    collector: str = ""  # "host:port"; empty = nothing is sent
    token: str = ""
    tls: bool = False
    ca_file: str = ""  # pinned CA bundle (PEM); empty = system roots
    region: str = ""  # ISO 3166-1 alpha-2 set by the deployer; empty = none
    upload_interval_hours: float = 24.0
    jitter_minutes: float = 30.0
    deadline_seconds: float = 10.0
    max_backoff_minutes: float = 360.0
    retry_initial_seconds: float = 60.0  # first retry delay after a failed upload (doubles)
    outbox_max_rows: int = 10_000
    outbox_max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class AgentConfig:
    """The whole agent configuration."""

    agent: AgentSection = field(default_factory=AgentSection)
    sensors: SensorsSection = field(default_factory=SensorsSection)
    signatures: SignaturesSection = field(default_factory=SignaturesSection)
    browser: BrowserSection = field(default_factory=BrowserSection)
    downloads: DownloadsSection = field(default_factory=DownloadsSection)
    dialog: DialogSection = field(default_factory=DialogSection)
    telemetry: TelemetrySection = field(default_factory=TelemetrySection)
    source: str = ""  # the file it was loaded from (not a TOML key)

    @property
    def state_dir(self) -> Path:
        """The resolved state directory."""
        return Path(self.agent.state_dir) if self.agent.state_dir else default_state_dir()


SECTIONS: dict[str, type[Any]] = {
    f.name: typing.get_type_hints(AgentConfig)[f.name]
    for f in dataclasses.fields(AgentConfig)
    if f.name != "source"
}


def _coerce(where: str, value: Any, annotation: Any) -> Any:
    """Check one TOML value against a field's type and convert lists to tuples."""
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_coerce(f"{where}[{i}]", v, item_type) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            try:
                return _coerce(where, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} has the wrong type")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected nothing")
        return None
    expected = {bool: bool, int: int, float: float, str: str}.get(annotation)
    if expected is None:
        raise ConfigError(f"{where}: unsupported setting type {annotation!r}")
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected an integer, got a boolean")
    if not isinstance(value, expected):
        raise ConfigError(
            f"{where}: expected {expected.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _build(cls: type[Any], where: str, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; valid keys: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(f"{where}.{k}", v, hints[k]) for k, v in table.items()}
    return cls(**kwargs)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> AgentConfig:
    """Build a config from parsed TOML; raises ConfigError naming source and key."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown section [{unknown[0]}]; valid sections: "
            + ", ".join(f"[{s}]" for s in SECTIONS)
        )
    sections = {
        name: _build(cls, f"{source}: [{name}]", data.get(name, {}))
        for name, cls in SECTIONS.items()
    }
    config = AgentConfig(**sections, source=source)
    _check(config)
    return config


def _check(config: AgentConfig) -> None:
    """Value checks that types alone cannot express."""
    src = config.source
    if config.sensors.poll_hz <= 0 or config.sensors.poll_hz > 100:
        raise ConfigError(
            f"{src}: [sensors].poll_hz must be in (0, 100], got {config.sensors.poll_hz}"
        )
    if not 0.05 <= config.sensors.session_poll_seconds <= 3600:
        raise ConfigError(
            f"{src}: [sensors].session_poll_seconds must be in [0.05, 3600], "
            f"got {config.sensors.session_poll_seconds}"
        )
    if config.sensors.process_events not in ("auto", "netlink", "poll"):
        raise ConfigError(
            f"{src}: [sensors].process_events must be auto, netlink or poll, "
            f"got {config.sensors.process_events!r}"
        )
    if not 0.05 <= config.sensors.call_poll_seconds <= 3600:
        raise ConfigError(
            f"{src}: [sensors].call_poll_seconds must be in [0.05, 3600], "
            f"got {config.sensors.call_poll_seconds}"
        )
    if config.dialog.backend not in ("auto", "tk", "console", "log"):
        raise ConfigError(
            f"{src}: [dialog].backend must be auto, tk, console or log, "
            f"got {config.dialog.backend!r}"
        )
    if config.agent.language not in ("", "nl", "en"):
        raise ConfigError(
            f"{src}: [agent].language must be nl, en or empty, got {config.agent.language!r}"
        )
    region = config.telemetry.region
    if region and region not in region_codes():
        # The same list the collector enforces: a typo here would otherwise
        # get every upload refused.
        raise ConfigError(
            f"{src}: [telemetry].region must be an ISO 3166-1 alpha-2 country code like NL "
            f"(not a grouping like EU), got {region!r}"
        )
    _check_dialog(config.dialog, src)


def _check_dialog(dialog: DialogSection, src: str) -> None:
    """[dialog] values: a negative countdown would unlock "I know this person" at once."""
    if not 0 <= dialog.countdown_seconds <= 600:
        raise ConfigError(
            f"{src}: [dialog].countdown_seconds must be in [0, 600], got {dialog.countdown_seconds}"
        )
    if not 0 < dialog.trust_hours <= 24 * 30:
        raise ConfigError(
            f"{src}: [dialog].trust_hours must be in (0, 720], got {dialog.trust_hours}"
        )
    if dialog.timeout_seconds < 0:
        raise ConfigError(
            f"{src}: [dialog].timeout_seconds must be 0 (wait) or more, "
            f"got {dialog.timeout_seconds}"
        )
    country = dialog.helpline_country
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise ConfigError(
            f"{src}: [dialog].helpline_country must be a two-letter country code like NL, "
            f"got {country!r}"
        )


def load(path: str | Path | None) -> AgentConfig:
    """Load the config file at ``path``; ``None`` gives all defaults."""
    if path is None:
        return AgentConfig()
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    return from_dict(data, source=str(p))
