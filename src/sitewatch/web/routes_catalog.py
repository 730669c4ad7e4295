"""Read endpoints over the catalog (sites, zones, images, tiles, detections, counts,
events, assessments, the alerts feed) and the one write on it: an analyst's verdict on an event."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from sitewatch.geo.grid import grid_transform
from sitewatch.store import add_verdict, alignments_for_site, events_for_site, images_for_site, list_alerts
from sitewatch.watch.feed import MEDIA_TYPE, atom_feed
from sitewatch.web import schemas, tiles, views
from sitewatch.web.problems import Problem
from sitewatch.web.security import require_token
from sitewatch.web.verdicts import latest_verdicts

router = APIRouter(prefix="/api")
Responses = dict[int | str, dict[str, Any]]  # what APIRouter's `responses=` takes
PROBLEMS: Responses = {404: {"model": schemas.ProblemDoc, "description": "unknown site, image or event"},
                       422: {"model": schemas.ProblemDoc, "description": "invalid parameters"}}
WRITE_PROBLEMS: Responses = {**PROBLEMS, 401: {"model": schemas.ProblemDoc, "description": "missing or wrong token"}}
Frame = Literal["reference", "image"]
FRAME = Query("reference", description="reference: moved by the image's alignment onto the site's reference "
                                       "image (what events use); image: the image's own georeferencing")
SiteName = Path(..., max_length=200, description="site name, as in the catalog")


def catalog(request: Request):
    return request.app.state.catalog


@router.get("/sites", response_model=list[schemas.SiteOut], tags=["sites"])
def list_sites(cat=Depends(catalog)):
    """Every site in the catalog, with its outline (EPSG:4326) and site grid."""
    return views.sites(cat)


@router.get("/sites/{site}", response_model=schemas.SiteOut, responses=PROBLEMS, tags=["sites"])
def get_site(site: str = SiteName, cat=Depends(catalog)):
    return views.one_site(cat, site)


@router.get("/sites/{site}/zones", response_model=schemas.FeatureCollection, responses=PROBLEMS, tags=["sites"])
def get_zones(site: str = SiteName, cat=Depends(catalog)):
    """The site's zones as GeoJSON (EPSG:4326), each with its polygon in the site CRS."""
    return views.zones(cat, site)


@router.get("/sites/{site}/images", response_model=list[schemas.ImageOut], responses=PROBLEMS, tags=["images"])
def list_images(site: str = SiteName, cat=Depends(catalog)):
    """The site's images, oldest first, with metadata and alignment quality."""
    return views.images(cat, site)


@router.get("/images/{image_id}", response_model=schemas.ImageOut, responses=PROBLEMS, tags=["images"])
def get_image(image_id: str = Path(..., max_length=64), cat=Depends(catalog)):
    img = views.image_or_404(cat, image_id)
    return views.image_view(cat, img, alignments_for_site(cat, img.site).get(img.id) if img.site else None)


@router.get("/images/{image_id}/tiles/{z}/{x}/{y}.{fmt}", responses={**PROBLEMS, 400: {"model": schemas.ProblemDoc}},
            response_class=Response, tags=["images"],
            openapi_extra={"responses": {"200": {"content": {"image/png": {}, "image/jpeg": {}}}}})
def get_tile(image_id: str = Path(..., max_length=64), z: int = Path(..., ge=0, le=tiles.MAX_ZOOM),
             x: int = Path(..., ge=0), y: int = Path(..., ge=0), fmt: str = Path(..., pattern="^(png|jpg)$"),
             frame: Frame = FRAME, cat=Depends(catalog)):
    """A 256 px XYZ tile (Web Mercator) of the image, read from its overviews. In the
    reference frame (default) the image is moved by its alignment onto the site's reference
    image; header X-Sitewatch-Frame says which frame the tile is in."""
    if not tiles.tile_in_range(z, x, y):
        raise Problem(400, f"tile {z}/{x}/{y} does not exist at zoom {z}")
    img = views.image_or_404(cat, image_id)
    alignment, grid = views.frame_of(cat, img, frame)
    correction = None
    if alignment is not None:
        correction = tiles.reference_correction(grid_transform(grid), alignment.matrix)
    data = tiles.render_tile(img.path, z, x, y, fmt, correction)
    served = "reference" if correction is not None or views._is_reference(cat, img) else "image"
    # short cache: re-aligning an image changes its tiles
    return Response(data, media_type=tiles.FORMATS[fmt],
                    headers={"Cache-Control": "public, max-age=300", "X-Sitewatch-Frame": served})


@router.get("/sites/{site}/detections", response_model=schemas.FeatureCollection, responses=PROBLEMS,
            tags=["detections"])
def get_detections(site: str = SiteName,
                   on: date | None = Query(None, alias="date", description="acquisition date, YYYY-MM-DD"),
                   image_id: str | None = Query(None, max_length=64),
                   cls: str | None = Query(None, alias="class", max_length=40),
                   type_: str | None = Query(None, alias="type", max_length=80),
                   bbox: str | None = Query(None, max_length=200, description="min_lon,min_lat,max_lon,max_lat"),
                   frame: Frame = FRAME, cat=Depends(catalog)):
    """Detections of the latest detect run as GeoJSON (EPSG:4326), with properties class,
    type, state and score; filtered by date, image, class, type and bounding box."""
    return views.detections(cat, site, on, image_id, cls, type_, bbox, frame)


@router.get("/sites/{site}/counts", response_model=schemas.CountsOut, responses=PROBLEMS, tags=["detections"])
def get_counts(site: str = SiteName, cat=Depends(catalog)):
    """Detections per type on each date."""
    return views.counts(cat, site)


@router.get("/sites/{site}/events", response_model=list[schemas.EventOut], responses=PROBLEMS, tags=["events"])
def list_events(site: str = SiteName, cat=Depends(catalog)):
    """The latest run's events with their evidence, boxes (EPSG:4326) and the analyst's verdict."""
    return views.events(cat, site)


@router.get("/sites/{site}/tracks", response_model=list[schemas.TrackOut], response_model_by_alias=True,
            responses=PROBLEMS, tags=["events"])
def list_tracks(site: str = SiteName, cat=Depends(catalog)):
    """Each item followed across dates: its box and state on every date it was seen."""
    return views.tracks(cat, site)


@router.post("/events/{event_id}/verdict", response_model=schemas.EventOut, responses=WRITE_PROBLEMS,
             dependencies=[Depends(require_token)], tags=["events"])
def post_verdict(body: schemas.VerdictIn, event_id: str = Path(..., max_length=64), cat=Depends(catalog)):
    """Record the analyst's verdict on an event (needs the token). The latest verdict counts."""
    site = views.event_site(cat, event_id)
    add_verdict(cat, event_id, body.verdict, body.note)
    return _one_event(cat, site, event_id)


def _one_event(cat, site: str, event_id: str) -> dict:
    e = next(x for x in events_for_site(cat, site) if x.id == event_id)
    dates = {i.id: i.acquired.date().isoformat() for i in images_for_site(cat, site)}
    return views.event_view(views.site_or_404(cat, site), e, dates,
                            views.evidence_for(cat, event_id, views.cited_evidence(cat, site)),
                            latest_verdicts(cat, [event_id]).get(event_id))


@router.get("/sites/{site}/assessment", response_model=schemas.AssessmentOut, responses=PROBLEMS,
            tags=["assessments"])
def get_assessment(site: str = SiteName, cat=Depends(catalog)):
    """The latest assessment (null before the first run), its caveats, and how the analyst's
    verdicts bear on the events it cites."""
    return views.assessment(cat, site)


@router.get("/sites/{site}/alerts.atom", response_class=Response, tags=["alerts"],
            responses={**PROBLEMS, 200: {"content": {"application/atom+xml": {}},
                                         "description": "the site's alerts as an Atom feed, newest first"}})
def get_alerts_feed(request: Request, site: str = SiteName, cat=Depends(catalog)):
    """The alerts `sitewatch watch` raised on the site's new images, as an Atom feed."""
    views.site_or_404(cat, site)
    return Response(atom_feed(site, list_alerts(cat, site=site), self_url=str(request.url)), media_type=MEDIA_TYPE)
