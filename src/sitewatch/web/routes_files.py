"""Files: reports to download, and imagery uploads."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from sitewatch.geo.raster import checked_time
from sitewatch.web import schemas, uploads, views
from sitewatch.web.problems import Problem
from sitewatch.web.routes_catalog import PROBLEMS, WRITE_PROBLEMS, SiteName, catalog
from sitewatch.web.security import folder_name, inside, require_token, safe_name
from sitewatch.workflow.ingest import ingest

router = APIRouter(prefix="/api")
MEDIA = {".html": "text/html; charset=utf-8", ".geojson": "application/geo+json",
         ".gpkg": "application/geopackage+sqlite3", ".kml": "application/vnd.google-earth.kml+xml",
         ".csv": "text/csv; charset=utf-8"}


def _report_dir(request: Request, site: str):
    return inside(request.app.state.settings.reports_dir, folder_name(site))


@router.get("/sites/{site}/reports", response_model=list[schemas.ReportFile], responses=PROBLEMS, tags=["reports"])
def list_reports(request: Request, site: str = SiteName, cat=Depends(catalog)):
    """The report and exports the latest job wrote for the site (empty before the first)."""
    views.site_or_404(cat, site)
    folder = _report_dir(request, site)
    if not folder.is_dir():
        return []
    return [{"name": p.name, "bytes": p.stat().st_size, "url": f"/api/sites/{site}/reports/{p.name}"}
            for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]


@router.get("/sites/{site}/reports/{name}", responses={**PROBLEMS, 400: {"model": schemas.ProblemDoc}},
            response_class=FileResponse, tags=["reports"])
def get_report(request: Request, name: str, site: str = SiteName, cat=Depends(catalog)):
    """One report file, by name (no paths: letters, digits, '.', '-', '_')."""
    views.site_or_404(cat, site)
    path = inside(_report_dir(request, site), safe_name(name))
    if not path.is_file():
        raise Problem(404, f"site {site!r} has no report file {name!r}")
    return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"),
                        filename=path.name, content_disposition_type="attachment" if path.suffix != ".html" else "inline")


UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "image/tiff": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}}}}}


@router.post("/uploads", status_code=201, response_model=schemas.UploadOut, tags=["images"],
             dependencies=[Depends(require_token)], openapi_extra=UPLOAD_BODY,
             responses={**WRITE_PROBLEMS, 400: {"model": schemas.ProblemDoc}, 413: {"model": schemas.ProblemDoc},
                        415: {"model": schemas.ProblemDoc}})
async def upload_image(request: Request, site: str | None = Query(None, max_length=200),
                       acquired: datetime | None = Query(None, description="acquisition time if the file has none"),
                       cat=Depends(catalog)):
    """Upload a GeoTIFF (raw body or multipart part 'file'), streamed to the data folder
    under a generated name and ingested into the catalog. Over the limit: 413; not a
    GeoTIFF: 415; no georeferencing or no site covered: 422. Refused uploads are deleted."""
    settings = request.app.state.settings
    acquired = checked_time("acquired", acquired)
    if site is not None:
        await run_in_threadpool(views.site_or_404, cat, site)
    partial = await uploads.receive(request, settings.uploads_dir, settings.upload_limit_bytes)
    try:
        await run_in_threadpool(uploads.check_geotiff, partial)
        final = uploads.keep(partial)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    try:
        outcome = await run_in_threadpool(_ingest, cat, str(final), site, acquired)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    if outcome.status == "failed":
        final.unlink(missing_ok=True)
        message = outcome.message.replace(str(final), "the upload").replace("--datetime", "the 'acquired' parameter")
        if "duplicate of image" in message:  # say which image, not where the server keeps its file
            raise Problem(409, re.sub(r"\s*\([^()]*\)$", "", message))
        raise Problem(422, message)
    body = {"stored_as": final.name, "message": outcome.message.replace(str(final), final.name),
            "image": await run_in_threadpool(views.image_view, cat, outcome.image)}
    return JSONResponse(body, status_code=201)


def _ingest(cat, path: str, site: str | None, acquired: datetime | None):
    return ingest(cat, [path], site=site, when=acquired)[0]
