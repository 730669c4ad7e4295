"""sitewatch: watch sites from orbit."""

__version__ = "0.1.0"
