"""``python -m agent`` = ``ratwatch-agent``."""

from agent.cli import main

main()
