"""The one version of the package and of its shipped model (the detector's metadata says the same)."""

__version__ = "0.15.0"
