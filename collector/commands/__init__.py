"""One module per ``ratwatch-collector`` command or command group (see collector/cli.py)."""
