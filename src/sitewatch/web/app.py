"""The FastAPI application: REST API under /api, map tiles, and the analyst's page at /.

create_app(settings) opens the catalog once; each request reads it through a pooled
connection. The OpenAPI document is at /api/openapi.json. The interactive docs pages are
off because they load their scripts from a CDN, and this app must work offline."""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sitewatch._version import __version__
from sitewatch.store import open_catalog, sweep_stale_runs
from sitewatch.web import problems, routes_catalog, routes_files, routes_jobs, routes_watch
from sitewatch.web.jobs import JobBoard
from sitewatch.web.settings import WebSettings, from_env

STATIC = Path(str(resources.files("sitewatch.web") / "static"))
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
}


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The app over the catalog and data folder that settings name (default: the environment)."""
    settings = settings or from_env()
    catalog = open_catalog(settings.db)
    sweep_stale_runs(catalog)  # runs a killed process left `running` (the job board restates its own)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        catalog.close()

    app = FastAPI(title="sitewatch", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json",
                  description="Sites, imagery, detections, events and assessments of the sitewatch catalog. "
                              "Geometry is GeoJSON in EPSG:4326 unless a field names the site CRS. Write "
                              "endpoints need `Authorization: Bearer <SITEWATCH_TOKEN>`. Errors are RFC 9457 "
                              "problem documents.")
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.jobs = JobBoard(settings, catalog)
    problems.install(app)
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    app.include_router(routes_catalog.router)
    app.include_router(routes_files.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_watch.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return app
