"""The sitewatch command line: a thin Typer layer over the library."""

from sitewatch.cli.main import app

__all__ = ["app"]
