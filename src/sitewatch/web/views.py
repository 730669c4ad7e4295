"""What the API shows, read from the catalog through sitewatch.store and turned into
JSON-ready dicts. Geometry leaves in EPSG:4326 (lon, lat); site-CRS figures are labelled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date

from pyproj import Transformer
from shapely import wkt as shapely_wkt
from shapely.geometry import box as lonlat_box
from shapely.geometry import mapping, shape

from sitewatch import equipment
from sitewatch.detect.geojson import to_feature_collection
from sitewatch.domain import Detection, Event, Image, Site
from sitewatch.errors import CatalogError
from sitewatch.store import (
    Catalog,
    alignments_for_site,
    detections_for_image,
    event_evidence,
    events_for_site,
    get_image,
    get_site,
    image_details,
    images_for_site,
    latest_assessment,
    list_sites,
    site_polygons,
    tracks_for_site,
)
from sitewatch.store.models import EventRow
from sitewatch.web import verdicts as verdict_rules
from sitewatch.web.problems import Problem
from sitewatch.workflow.looks import to_reference_frame

CRS_NOTE = "geometry in EPSG:4326 (lon, lat) per RFC 7946"


def _to_lonlat(crs: str) -> Transformer:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def _ring_lonlat(tr: Transformer, ring: Sequence[tuple[float, float]]) -> list[list[float]]:
    lon, lat = tr.transform([p[0] for p in ring], [p[1] for p in ring])
    pts = [[round(a, 9), round(b, 9)] for a, b in zip(lon, lat)]
    return pts + [pts[0]]


def site_or_404(catalog: Catalog, name: str) -> Site:
    try:
        return get_site(catalog, name)
    except CatalogError as exc:  # no such site
        raise Problem(404, f"no site named {name!r} in the catalog") from exc


def site_summary(site: Site, outline_wkt: str | None, n_images: int) -> dict:
    outline = mapping(shapely_wkt.loads(outline_wkt)) if outline_wkt else None
    g = site.grid
    return {"name": site.name, "kind": site.kind, "lat": site.lat, "lon": site.lon, "outline": outline,
            "grid": {"crs": g.crs, "origin_x": g.origin_x, "origin_y": g.origin_y, "gsd_m": g.gsd_m,
                     "width_px": g.width_px, "height_px": g.height_px},
            "zones": [z.name for z in site.zones], "image_count": n_images}


def sites(catalog: Catalog) -> list[dict]:
    outlines = {k: v.wkt for k, v in site_polygons(catalog).items()}
    return [site_summary(s, outlines.get(s.name), len(images_for_site(catalog, s.name))) for s in list_sites(catalog)]


def one_site(catalog: Catalog, name: str) -> dict:
    site = site_or_404(catalog, name)
    outline = site_polygons(catalog).get(name)
    return site_summary(site, outline.wkt if outline is not None else None, len(images_for_site(catalog, name)))


def zones(catalog: Catalog, name: str) -> dict:
    site = site_or_404(catalog, name)
    tr = _to_lonlat(site.grid.crs)
    feats = [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_ring_lonlat(tr, z.polygon)]},
              "properties": {"name": z.name, "kind": z.kind, "site_crs": site.grid.crs,
                             "site_crs_polygon": [list(p) for p in z.polygon]}} for z in site.zones]
    return {"type": "FeatureCollection", "crs_note": CRS_NOTE, "site": site.name, "features": feats}


def image_view(catalog: Catalog, image: Image, alignment=None) -> dict:
    det = image_details(catalog, image.id)
    footprint = shapely_wkt.loads(det["footprint_wkt"])
    al = None
    if alignment is not None:
        al = {"status": alignment.status, "reference_image_id": alignment.reference_id,
              "quality": alignment.quality, "residual_px": alignment.residual_px, "dx_px": alignment.dx_px,
              "dy_px": alignment.dy_px, "rotation_deg": alignment.rotation_deg, "scale": alignment.scale,
              "windows_used": alignment.windows_used, "windows_total": alignment.windows_total,
              "reason": alignment.reason, "ce90_m": alignment.ce90_m, "changed_fraction": alignment.changed_fraction}
    return {"id": image.id, "site": image.site, "acquired": image.acquired.isoformat(),
            "date": image.acquired.date().isoformat(), "gsd_m": image.gsd_m, "crs": image.crs,
            "width_px": image.width_px, "height_px": image.height_px, "bands": image.bands, "dtype": image.dtype,
            "cloud_cover": image.cloud_cover, "valid_fraction": det["valid_fraction"], "tiled": det["tiled"],
            "datetime_source": det["datetime_source"], "footprint": mapping(footprint),
            "bounds_lonlat": list(footprint.bounds), "alignment": al,
            "observation": {**asdict(image.observation), "instruments": list(image.observation.instruments)},
            "caveats": list(image.caveats),
            "tiles": f"/api/images/{image.id}/tiles/{{z}}/{{x}}/{{y}}.png"}


def images(catalog: Catalog, name: str) -> list[dict]:
    site_or_404(catalog, name)
    aligns = alignments_for_site(catalog, name)
    return [image_view(catalog, i, aligns.get(i.id)) for i in images_for_site(catalog, name)]


def frame_of(catalog: Catalog, image: Image, frame: str):
    """For frame "reference": the image's usable alignment on its site and the site grid, or
    (None, None) when the image is the reference, is not aligned, failed alignment, or is not
    in the site CRS; then the image is served in its own frame ("image")."""
    if frame != "reference" or not image.site:
        return None, None
    a = alignments_for_site(catalog, image.site).get(image.id)
    if a is None or a.status != "ok":
        return None, None
    site = get_site(catalog, image.site)
    if image.crs != site.grid.crs:
        return None, None
    return a, site.grid


def image_or_404(catalog: Catalog, image_id: str) -> Image:
    try:
        return get_image(catalog, image_id)
    except CatalogError as exc:
        raise Problem(404, f"no image {image_id!r} in the catalog") from exc


def _parse_bbox(bbox: str | None):
    if bbox is None:
        return None
    try:
        w, s, e, n = (float(v) for v in bbox.split(","))
    except ValueError:
        raise Problem(422, f"bbox must be 'min_lon,min_lat,max_lon,max_lat', got {bbox!r}") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise Problem(422, f"bbox {bbox!r} is not a lon/lat box with min < max")
    return lonlat_box(w, s, e, n)


def detections(catalog: Catalog, name: str, on: date | None = None, image_id: str | None = None,
               cls: str | None = None, type_: str | None = None, bbox: str | None = None,
               frame: str = "reference") -> dict:
    """The latest detect run's detections for the site's images, filtered, as GeoJSON. In
    the reference frame (default) each image's boxes are moved by its alignment, as the
    tiles are, so that boxes of every date sit on the same ground; property `frame` says
    which frame each feature is in."""
    site = site_or_404(catalog, name)
    area = _parse_bbox(bbox)
    imgs = images_for_site(catalog, name)
    if image_id is not None:
        imgs = [i for i in imgs if i.id == image_id]
        if not imgs:
            raise Problem(404, f"site {name!r} has no image {image_id!r}")
    if on is not None:
        imgs = [i for i in imgs if i.acquired.date() == on]
    features = []
    for img in imgs:
        dets = [d for d in detections_for_image(catalog, img.id)
                if (cls is None or d.cls == cls) and (type_ is None or d.type == type_)]
        alignment, grid = frame_of(catalog, img, frame)
        if alignment is not None:
            dets = to_reference_frame(dets, alignment, grid)
        served = "reference" if alignment is not None or (frame == "reference" and _is_reference(catalog, img)) \
            else "image"
        fc = to_feature_collection(dets, site.grid.crs, image=img.id)
        for k, f in enumerate(fc["features"]):
            if area is not None and not area.intersects(shape(f["geometry"])):
                continue
            f["id"] = f"{img.id}:{k}"
            f["properties"]["date"] = img.acquired.date().isoformat()
            f["properties"]["frame"] = served
            features.append(f)
    return {"type": "FeatureCollection", "crs_note": CRS_NOTE, "site": name, "site_crs": site.grid.crs,
            "features": features}


def _is_reference(catalog: Catalog, img: Image) -> bool:
    a = alignments_for_site(catalog, img.site).get(img.id) if img.site else None
    return a is not None and a.status == "reference"


def counts(catalog: Catalog, name: str) -> dict:
    """Detections per type on each date (the latest detect run of each image)."""
    site_or_404(catalog, name)
    rows = []
    types: set[str] = set()
    for img in images_for_site(catalog, name):
        c = Counter(d.type for d in detections_for_image(catalog, img.id))
        types |= set(c)
        rows.append({"image_id": img.id, "date": img.acquired.date().isoformat(), "counts": dict(sorted(c.items()))})
    return {"site": name, "types": sorted(types), "dates": rows}


def site_events(catalog: Catalog, name: str) -> list[Event]:
    # A re-run replaces a site's events whole (store.save_site_results): all stored are current.
    return events_for_site(catalog, name)


def _side(tr: Transformer, site: Site, d: Detection | None, dates: dict[str, str]) -> dict | None:
    if d is None:
        return None
    ring = _ring_lonlat(tr, d.box.corners())
    return {"image_id": d.image_id, "date": dates.get(d.image_id), "class": d.cls, "type": d.type, "state": d.state,
            "score": d.score, "heading_deg": d.box.heading_deg, "length_m": d.box.length, "width_m": d.box.width,
            "center_site_crs": [d.box.cx, d.box.cy], "site_crs": site.grid.crs,
            **equipment.describe_size(d.cls, d.type, d.box.length, d.box.width),
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def event_view(site: Site, e: Event, dates: dict[str, str], evidence, verdict) -> dict:
    tr = _to_lonlat(site.grid.crs)
    before, after = _side(tr, site, e.before, dates), _side(tr, site, e.after, dates)
    pts = [p for side in (before, after) if side for p in side["geometry"]["coordinates"][0]]
    bounds = [min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts)]
    # the pair of images the event lies between: stored with its evidence (an arrival has no
    # "before" detection, a departure no "after" one), else the detections' own images
    pair = {x.note: x.image_id for x in evidence if x.note in ("before", "after") and x.event_id == e.id}
    b_img = pair.get("before") or (e.before.image_id if e.before else None)
    a_img = pair.get("after") or (e.after.image_id if e.after else None)
    return {"id": e.id, "site": e.site, "kind": e.kind, "track_id": e.track_id, "class": e.cls, "type": e.type,
            "confidence": e.confidence, "zone": e.zone, "note": e.note, "before": before, "after": after,
            "before_image": b_img, "after_image": a_img, "before_date": dates.get(b_img or ""),
            "after_date": dates.get(a_img or ""), "bounds_lonlat": bounds,
            "evidence": [{"image_id": x.image_id, "date": dates.get(x.image_id),
                          "window": None if x.window is None else [x.window.col_off, x.window.row_off,
                                                                   x.window.width, x.window.height],
                          "note": x.note} for x in evidence],
            "verdict": None if verdict is None else {"verdict": verdict.verdict, "note": verdict.note,
                                                     "created": verdict.created.isoformat()},
            "grade": e.grade,
            "sources": [{"image_id": r.image_id, "date": dates.get(r.image_id), "source": r.source,
                         "modality": r.modality, "verdict": r.verdict, "note": r.note} for r in e.sources]}


def events(catalog: Catalog, name: str) -> list[dict]:
    site = site_or_404(catalog, name)
    evs = site_events(catalog, name)
    dates = {i.id: i.acquired.date().isoformat() for i in images_for_site(catalog, name)}
    vs = verdict_rules.latest_verdicts(catalog, [e.id for e in evs])
    return [event_view(site, e, dates, evidence_for(catalog, e.id, cited), vs.get(e.id))
            for cited in [cited_evidence(catalog, name)] for e in evs]


def cited_evidence(catalog: Catalog, name: str) -> dict[str, list]:
    """event id -> the latest assessment's evidence entries that cite it."""
    a = latest_assessment(catalog, name)
    out: dict[str, list] = {}
    for x in (a.evidence if a else ()):
        if x.event_id:
            out.setdefault(x.event_id, []).append(x)
    return out


def evidence_for(catalog: Catalog, event_id: str, cited: dict[str, list]) -> list:
    """The event's stored evidence, then the assessment's evidence that cites it (deduplicated)."""
    out = list(event_evidence(catalog, event_id))
    for x in cited.get(event_id, ()):
        if x not in out:
            out.append(x)
    return out


def tracks(catalog: Catalog, name: str) -> list[dict]:
    """The site's tracks: each item with its sighting on every date it was seen (boxes in the
    reference frame, as events)."""
    site = site_or_404(catalog, name)
    ts = tracks_for_site(catalog, name)
    dates = {i.id: (i.acquired, i.acquired.date().isoformat()) for i in images_for_site(catalog, name)}
    tr = _to_lonlat(site.grid.crs)
    out = []
    for t in ts:
        sightings = sorted(t.sightings.items(), key=lambda kv: dates.get(kv[0], (None, ""))[1])
        out.append({"id": t.id, "class": t.cls, "type": t.type, "sightings": [
            {"image_id": image_id, "date": dates.get(image_id, (None, None))[1], "state": d.state, "score": d.score,
             "geometry": {"type": "Polygon", "coordinates": [_ring_lonlat(tr, d.box.corners())]}}
            for image_id, d in sightings]})
    return out


def event_site(catalog: Catalog, event_id: str) -> str:
    with catalog.reading() as s:
        row = s.get(EventRow, event_id)
        if row is None:
            raise Problem(404, f"no event {event_id!r} in the catalog")
        return row.site


def assessment(catalog: Catalog, name: str) -> dict:
    site_or_404(catalog, name)
    a = latest_assessment(catalog, name)
    evs = site_events(catalog, name)
    vs = verdict_rules.latest_verdicts(catalog, [e.id for e in evs])
    rev = verdict_rules.review(a, evs, vs)
    if a is None:
        return {"site": name, "assessment": None, "review": rev}
    body = {"period_start": a.period_start.isoformat() if a.period_start else None,
            "period_end": a.period_end.isoformat() if a.period_end else None, "posture": a.posture,
            "likelihood": a.likelihood, "confidence": a.confidence, "headline": a.headline,
            "indicators": list(a.indicators), "caveats": list(a.caveats),
            "evidence": [{"image_id": x.image_id, "event_id": x.event_id, "note": x.note,
                          "window": None if x.window is None else [x.window.col_off, x.window.row_off,
                                                                   x.window.width, x.window.height]}
                         for x in a.evidence]}
    reviewed = verdict_rules.reviewed_judgement(catalog, get_site(catalog, name), evs, vs)
    return {"site": name, "assessment": body, "review": rev, "reviewed": reviewed}
