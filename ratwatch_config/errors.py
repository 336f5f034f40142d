"""The loader's one error: a config file that cannot be used, with where and why."""

from __future__ import annotations


class ConfigInvalid(ValueError):
    """A config file is unreadable, not TOML, or a key is unknown or of the wrong type.

    ``source`` is the file (or ``<dict>``), ``key`` the TOML key such as
    ``[agent].log_level`` (empty when the file as a whole is the problem) and
    ``problem`` what is wrong and what would be valid. ``str()`` is the one
    line a user sees.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")
