"""The agent's error hierarchy: one base, so callers can catch what the agent raises.

AgentError
 ├── ConfigError            the TOML config is unreadable or a key has a bad value
 ├── SignatureError         a signature file is invalid (carries every problem found)
 ├── LolrmmError            the LOLRMM source cannot be converted (``file``)
 ├── IntakeError            a context-intake file or signal is malformed
 ├── SensorError            a sensor cannot start (e.g. permission for an event source)
 │    ├── HistoryUnreadable a browser history cannot be read now (``file``); retry later
 │    └── EventsLost        the kernel dropped process events (``errno``); resynchronise
 ├── ActionError            suspending / resuming / stopping a remote tool failed
 ├── TelemetryError         the outbox or reporter cannot do its job
 ├── AutostartError         the login item cannot be written, removed or read (``file``)
 └── DemoError              a child program of the demo did not start or answer (``program``)

Context is kept as attributes, not only in the message: a caller can act on
``exc.file`` without parsing text, and a message that may reach a log stays
free of paths (the path is in the attribute, for the person's own screen).
"""

from __future__ import annotations

from dataclasses import dataclass


class AgentError(Exception):
    """Base class for every error the agent raises on purpose."""


class ConfigError(AgentError):
    """The agent's configuration is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Problem:
    """One content error: where it is and what is wrong."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class SignatureError(AgentError):
    """One or more signature files are invalid; ``problems`` lists each one."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid signatures")


class LolrmmError(AgentError):
    """The LOLRMM source cannot be converted (missing folder, or a bug in the output)."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        self.file = file
        super().__init__(message)


class IntakeError(AgentError):
    """A context-intake file or signal is malformed."""


class SensorError(AgentError):
    """A sensor could not start or lost its event source."""


class HistoryUnreadable(SensorError):
    """The history copy cannot be read now (busy, half-written, corrupt); try again later.

    The message says why without the path (it is logged); ``file`` is the database.
    """

    def __init__(self, reason: str, *, file: str | None = None) -> None:
        self.file = file
        super().__init__(reason)


class EventsLost(SensorError):
    """The kernel dropped process events (receive buffer overflow); resynchronise from a listing."""

    def __init__(self, errno: int, message: str = "kernel process events were dropped") -> None:
        self.errno = errno
        super().__init__(message)


class ActionError(AgentError):
    """An action on a remote tool's processes (suspend, resume, stop) failed."""


class AgentAlreadyRunning(AgentError):
    """Another agent already runs on this state directory (see ``agent.presence``)."""


class TelemetryError(AgentError):
    """The outbox or the reporter failed."""


class AutostartError(AgentError):
    """The login item could not be written, removed or read; ``file`` is the item, if any."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        self.file = file
        super().__init__(message)


class DemoError(AgentError):
    """A child program of the demo did not start or answer in time; ``program`` names it."""

    def __init__(self, message: str, *, program: str | None = None) -> None:
        self.program = program
        super().__init__(message)
