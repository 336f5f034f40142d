"""The agent's error hierarchy: one base, so callers can catch what the agent raises.

AgentError
 ├── ConfigError        the TOML config is unreadable or a key has a bad value
 ├── SignatureError     a signature file is invalid (carries every problem found)
 ├── IntakeError        a context-intake file or signal is malformed
 ├── SensorError        a sensor cannot start (e.g. permission for an event source)
 ├── ActionError        suspending / resuming / stopping a remote tool failed
 └── TelemetryError     the outbox or reporter cannot do its job
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


class IntakeError(AgentError):
    """A context-intake file or signal is malformed."""


class SensorError(AgentError):
    """A sensor could not start or lost its event source."""


class ActionError(AgentError):
    """An action on a remote tool's processes (suspend, resume, stop) failed."""


class AgentAlreadyRunning(AgentError):
    """Another agent already runs on this state directory (see ``agent.presence``)."""


class TelemetryError(AgentError):
    """The outbox or the reporter failed."""
