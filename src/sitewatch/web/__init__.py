"""The analyst's web app and REST API over the catalog (FastAPI; `sitewatch serve`)."""

from sitewatch.web.app import create_app
from sitewatch.web.settings import WebSettings, from_env

__all__ = ["WebSettings", "create_app", "from_env"]
