"""Warning backends: name -> "module:class". Chosen by ``[dialog].backend``.

Every backend class takes the ``AgentConfig``. "auto" picks tk when a display
is available, else console when standard input is a terminal, else log.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import cast

from agent.config import AgentConfig
from agent.dialog.base import Presenter
from agent.errors import ConfigError

DIALOGS: dict[str, str] = {
    "console": "agent.dialog.console:ConsolePresenter",
    "log": "agent.dialog.log:LogPresenter",
    "tk": "agent.dialog.tk:TkPresenter",
}


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
        target = DIALOGS[name]
    except KeyError:
        raise ConfigError(
            f"dialog backend {name!r} is not available; available: {', '.join(sorted(DIALOGS))}"
        ) from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    return cast(Presenter, cls(config))
