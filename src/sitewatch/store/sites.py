"""Sites and their zones in the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pyproj import Transformer
from shapely import wkt as shapely_wkt
from shapely.geometry import Polygon
from sqlalchemy import select

from sitewatch.domain import Site, SiteGrid, Zone
from sitewatch.errors import CatalogError
from sitewatch.store.catalog import Catalog
from sitewatch.store.models import SiteRow, ZoneRow


def grid_outline_lonlat(grid: SiteGrid) -> Polygon:
    """The grid's outline in EPSG:4326 (lon, lat), densified so that it follows the UTM
    to geographic curvature."""
    left, bottom, right, top = grid.bounds
    steps = 16
    xs: list[float] = []
    ys: list[float] = []
    for (x0, y0), (x1, y1) in zip(((left, top), (right, top), (right, bottom), (left, bottom)),
                                  ((right, top), (right, bottom), (left, bottom), (left, top))):
        for i in range(steps):
            xs.append(x0 + (x1 - x0) * i / steps)
            ys.append(y0 + (y1 - y0) * i / steps)
    lons, lats = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return Polygon(zip(lons, lats))


def add_site(catalog: Catalog, site: Site, polygon_lonlat: Sequence[tuple[float, float]] | None = None) -> Site:
    """Add a site with its zones. polygon_lonlat is the site outline (default: the grid's).
    Raises CatalogError if a site of that name exists."""
    outline = Polygon(polygon_lonlat) if polygon_lonlat is not None else grid_outline_lonlat(site.grid)
    if not outline.is_valid or outline.area == 0:
        raise CatalogError(f"site {site.name!r}: its polygon is not a valid area")
    with catalog.transaction() as s:
        if s.get(SiteRow, site.name) is not None:
            raise CatalogError(f"site {site.name!r} is already in the catalog")
        g = site.grid
        s.add(SiteRow(name=site.name, kind=site.kind, lat=site.lat, lon=site.lon, polygon_wkt=outline.wkt,
                      grid_crs=g.crs, grid_origin_x=g.origin_x, grid_origin_y=g.origin_y, grid_gsd_m=g.gsd_m,
                      grid_width_px=g.width_px, grid_height_px=g.height_px,
                      created=datetime.now(UTC).replace(tzinfo=None)))
        s.flush()
        for z in site.zones:
            s.add(ZoneRow(site=site.name, name=z.name, kind=z.kind, polygon=[list(p) for p in z.polygon]))
    return site


def _to_site(row: SiteRow, zones: Sequence[ZoneRow]) -> Site:
    grid = SiteGrid(row.grid_crs, row.grid_origin_x, row.grid_origin_y, row.grid_gsd_m, row.grid_width_px,
                    row.grid_height_px)
    zs = tuple(Zone(z.name, z.kind, tuple((float(x), float(y)) for x, y in z.polygon)) for z in zones)
    return Site(name=row.name, kind=row.kind, lat=row.lat, lon=row.lon, grid=grid, zones=zs)  # type: ignore[arg-type]


def get_site(catalog: Catalog, name: str) -> Site:
    """The site of that name; CatalogError naming the known sites if there is none."""
    with catalog.reading() as s:
        row = s.get(SiteRow, name)
        if row is None:
            known = s.scalars(select(SiteRow.name).order_by(SiteRow.name)).all()
            hint = f" (known: {', '.join(known)})" if known else " (the catalog has no sites; run `sitewatch sites add`)"
            raise CatalogError(f"no site named {name!r} in the catalog{hint}")
        zones = s.scalars(select(ZoneRow).where(ZoneRow.site == name).order_by(ZoneRow.id)).all()
        return _to_site(row, zones)


def list_sites(catalog: Catalog) -> list[Site]:
    with catalog.reading() as s:
        rows = s.scalars(select(SiteRow).order_by(SiteRow.name)).all()
        zones = s.scalars(select(ZoneRow).order_by(ZoneRow.id)).all()
        return [_to_site(r, [z for z in zones if z.site == r.name]) for r in rows]


def site_polygons(catalog: Catalog) -> dict[str, Polygon]:
    """Each site's outline in EPSG:4326, for assigning images to sites."""
    with catalog.reading() as s:
        return {r.name: shapely_wkt.loads(r.polygon_wkt) for r in s.scalars(select(SiteRow)).all()}


def set_reference_image(catalog: Catalog, site: str, image_id: str | None) -> None:
    with catalog.transaction() as s:
        row = s.get(SiteRow, site)
        if row is None:
            raise CatalogError(f"no site named {site!r} in the catalog")
        row.reference_image_id = image_id


def reference_image_id(catalog: Catalog, site: str) -> str | None:
    with catalog.reading() as s:
        row = s.get(SiteRow, site)
        if row is None:
            raise CatalogError(f"no site named {site!r} in the catalog")
        return row.reference_image_id
