"""`python -m sitewatch.cli` runs the same entry point as the `sitewatch` script."""

from sitewatch.cli.main import main

main()
