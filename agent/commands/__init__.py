"""One module per ``ratwatch-agent`` command or command group (see agent/cli.py)."""
