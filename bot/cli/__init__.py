"""The `qabot` command (click): thin commands over `bot.service`, the REPL, Rich rendering."""

from bot.cli.main import main

__all__ = ["main"]
