"""The agent's configuration: frozen dataclasses loaded from one TOML file.

Every key is documented in docs/configuration.md (a test checks that the
table names every field here). Types, unknown sections or keys and the file
itself are checked by ratwatch_config, the loader the collector shares, so a
typo never silently falls back to a default; the value rules that types cannot
express are here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from ratwatch_proto.regions import region_codes

from agent.errors import ConfigError
from ratwatch_config.errors import ConfigInvalid
from ratwatch_config.loader import LOG_LEVELS, build, read_toml, sections


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
        "phone",
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
class PhoneSection:
    """[phone] the person's phone: which programs bring its calls to this PC."""

    sources: tuple[str, ...] = ()  # empty = every source this OS can have
    no_contacts_after_calls: int = 3  # nameless calls before a phone counts as "no contacts"
    toast_poll_seconds: float = 1.0  # Phone Link's toast list (Windows)
    history_poll_seconds: float = 10.0  # the Mac's call history


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
    phone: PhoneSection = field(default_factory=PhoneSection)
    dialog: DialogSection = field(default_factory=DialogSection)
    telemetry: TelemetrySection = field(default_factory=TelemetrySection)
    source: str = ""  # the file it was loaded from (not a TOML key)

    @property
    def state_dir(self) -> Path:
        """The resolved state directory."""
        return Path(self.agent.state_dir) if self.agent.state_dir else default_state_dir()


SECTIONS = sections(AgentConfig)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> AgentConfig:
    """Build a config from parsed TOML; raises ConfigError naming source and key."""
    try:
        config = build(AgentConfig, data, source)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc)) from exc
    _check(config)
    return config


def _check(config: AgentConfig) -> None:
    """Value checks that types alone cannot express."""
    src = config.source
    if config.agent.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"{src}: [agent].log_level must be {', '.join(LOG_LEVELS)} (any case), "
            f"got {config.agent.log_level!r}"
        )
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
    _check_phone(config.phone, src)


_PHONE_SOURCES = ("kdeconnect", "phonelink", "callhistory")


def _check_phone(phone: PhoneSection, src: str) -> None:
    """[phone] values (the source names are the phone sensor's registry keys)."""
    for name in phone.sources:
        if name not in _PHONE_SOURCES:
            raise ConfigError(
                f"{src}: [phone].sources: unknown source {name!r}; valid sources: "
                + ", ".join(_PHONE_SOURCES)
            )
    if not 1 <= phone.no_contacts_after_calls <= 100:
        raise ConfigError(
            f"{src}: [phone].no_contacts_after_calls must be in [1, 100], "
            f"got {phone.no_contacts_after_calls}"
        )
    for key in ("toast_poll_seconds", "history_poll_seconds"):
        value = getattr(phone, key)
        if not 0.05 <= value <= 3600:
            raise ConfigError(f"{src}: [phone].{key} must be in [0.05, 3600], got {value}")


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
    try:
        data = read_toml(Path(path))
    except ConfigInvalid as exc:
        raise ConfigError(str(exc)) from exc
    return from_dict(data, source=str(path))
