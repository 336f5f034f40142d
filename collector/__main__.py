"""``python -m collector`` = ``ratwatch-collector``."""

from collector.cli import main

main()
