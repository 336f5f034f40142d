"""Autostart: start the agent at the person's login, one writer per OS.

``writers`` picks the writer of this OS and builds the agent's command line;
``base`` is the interface; ``xdg`` (Linux desktops), ``launchd`` (macOS) and
``taskscheduler`` (Windows) write and read their login item.

May import: the vocabularies (errors, redact).
Imported by: ``ratwatch-agent autostart``.
"""
