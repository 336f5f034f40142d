"""The warning: what it says and its backends (tk / console / log), chosen by ``[dialog].backend``.

``DIALOGS`` maps each backend name to a lazy factory taking the ``AgentConfig``
(the backend's module, and Tk, load only when chosen). "auto" picks tk when a
display is available, else console when standard input is a terminal, else log.
``lifecycle`` is one warning's life (suspension, countdown, choice, outcome),
independent of how it is drawn; ``content``, ``i18n`` and ``helplines`` what it says.

May import: ``agent.control`` (suspend / stop the tool), ``agent.correlate.evidence``
(evidence texts) and the vocabularies.
Imported by: the runtime and the demo.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from agent.config import AgentConfig
from agent.dialog.base import Presenter
from agent.errors import ConfigError

PresenterFactory = Callable[[AgentConfig], Presenter]


def _console(config: AgentConfig) -> Presenter:
    from agent.dialog.console import ConsolePresenter

    return ConsolePresenter(config)


def _log(config: AgentConfig) -> Presenter:
    from agent.dialog.log import LogPresenter

    return LogPresenter(config)


def _tk(config: AgentConfig) -> Presenter:
    from agent.dialog.tk import TkPresenter

    return TkPresenter(config)


DIALOGS: dict[str, PresenterFactory] = {"console": _console, "log": _log, "tk": _tk}


def _available(name: str) -> bool:
    if name == "tk":
        # Linux distributions ship tkinter separately (python3-tk).
        import importlib.util

        return name in DIALOGS and importlib.util.find_spec("tkinter") is not None
    return name in DIALOGS


def auto_backend() -> str:
    """The best backend for this session."""
    has_display = sys.platform in ("win32", "darwin") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if has_display and _available("tk"):
        return "tk"
    if sys.stdin is not None and sys.stdin.isatty() and _available("console"):
        return "console"
    return "log"


def create_presenter(config: AgentConfig, backend: str | None = None) -> Presenter:
    """Build the configured (or given) backend."""
    name = backend or config.dialog.backend
    if name == "auto":
        name = auto_backend()
    try:
        factory = DIALOGS[name]
    except KeyError:
        raise ConfigError(
            f"dialog backend {name!r} is not available; available: {', '.join(sorted(DIALOGS))}"
        ) from None
    return factory(config)
