"""The sitewatch command line: a thin Typer layer over the library.

Command bodies import the stages they drive, so `sitewatch --help` starts in about 0.3 s
rather than 5 s (torch, matplotlib and SQLAlchemy at module level; measured on a 2-core
machine like CI's), and on the core install a command whose extra is missing fails alone, naming the
extra to install (`main.main`).
"""

from sitewatch.cli.main import app

__all__ = ["app"]
