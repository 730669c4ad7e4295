"""Site grids: the fixed pixel grid every image of a site is processed on.

A site grid lives in the local UTM zone of the site (metres), with its top-left corner
snapped to a whole multiple of the GSD so that two grids of the same site built from the
same inputs are identical, pixel for pixel. Imports nothing of ours but the domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from affine import Affine
from pyproj import CRS, Transformer

from sitewatch.domain import SiteGrid

DEFAULT_GSD_M = 0.5


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the WGS 84 UTM zone that holds (lat, lon), with the Norway and
    Svalbard exceptions."""
    if not (-80.0 <= lat <= 84.0):
        raise ValueError(f"latitude {lat:.6g} is outside the UTM range (-80..84)")
    if not (-180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon} is outside -180..180")
    zone = int((lon + 180.0) // 6.0) + 1
    zone = min(zone, 60)
    if 56.0 <= lat < 64.0 and 3.0 <= lon < 12.0:
        zone = 32
    if 72.0 <= lat < 84.0:
        for lo, hi, z in ((0.0, 9.0, 31), (9.0, 21.0, 33), (21.0, 33.0, 35), (33.0, 42.0, 37)):
            if lo <= lon < hi:
                zone = z
    return (32600 if lat >= 0 else 32700) + zone


def utm_crs(lat: float, lon: float) -> str:
    """The site CRS for a point, as an "EPSG:xxxxx" string."""
    return f"EPSG:{utm_epsg(lat, lon)}"


def wrap_longitude(lon: float) -> float:
    """lon in [-180, 180), the same meridian."""
    return (lon + 180.0) % 360.0 - 180.0


def unwrap_longitudes(lons: Sequence[float], ref: float | None = None) -> list[float]:
    """Longitudes moved by whole turns to lie within 180 degrees of ref (default: the first),
    so that a polygon crossing the antimeridian (179.9 next to -179.9) stays small and its
    centre is not put near 0 degrees east. Sites span far less than 180 degrees."""
    if not lons:
        return []
    ref = lons[0] if ref is None else ref
    return [ref + wrap_longitude(lon - ref) for lon in lons]


def _snap_down(value: float, step: float) -> float:
    return math.floor(value / step + 1e-9) * step


def _snap_up(value: float, step: float) -> float:
    return math.ceil(value / step - 1e-9) * step


def grid_from_bounds(crs: str, left: float, bottom: float, right: float, top: float, gsd_m: float) -> SiteGrid:
    """The smallest grid, origin snapped to the GSD, that covers the bounds (site CRS)."""
    if not gsd_m > 0:
        raise ValueError(f"gsd_m must be positive, got {gsd_m}")
    if not all(math.isfinite(v) for v in (left, bottom, right, top)):
        raise ValueError(f"bounds {left, bottom, right, top} are not finite (too far from the zone's meridian?)")
    if not (right > left and top > bottom):
        raise ValueError(f"empty bounds {left, bottom, right, top}")
    x0 = _snap_down(left, gsd_m)
    y0 = _snap_up(top, gsd_m)
    width = int(round((_snap_up(right, gsd_m) - x0) / gsd_m))
    height = int(round((y0 - _snap_down(bottom, gsd_m)) / gsd_m))
    return SiteGrid(crs=crs, origin_x=x0, origin_y=y0, gsd_m=gsd_m, width_px=width, height_px=height)


def site_grid(lat: float, lon: float, width_m: float, height_m: float | None = None,
              gsd_m: float = DEFAULT_GSD_M) -> SiteGrid:
    """A grid of width_m x height_m metres centred on (lat, lon) in the local UTM zone."""
    height_m = width_m if height_m is None else height_m
    if not (width_m > 0 and height_m > 0):
        raise ValueError(f"grid size must be positive, got {width_m} x {height_m} m")
    crs = utm_crs(lat, lon)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cx, cy = to_utm.transform(lon, lat)
    return grid_from_bounds(crs, cx - width_m / 2, cy - height_m / 2, cx + width_m / 2, cy + height_m / 2, gsd_m)


def grid_for_polygon(lonlat: Sequence[tuple[float, float]], gsd_m: float = DEFAULT_GSD_M,
                     margin_m: float = 0.0) -> SiteGrid:
    """The grid covering a polygon given in (lon, lat) degrees, plus a margin, in the UTM
    zone of the polygon's centre (longitudes unwrapped across the antimeridian)."""
    if len(lonlat) < 3:
        raise ValueError("a polygon needs at least three vertices")
    lons = unwrap_longitudes([p[0] for p in lonlat])
    lats = [p[1] for p in lonlat]
    crs = utm_crs((min(lats) + max(lats)) / 2, wrap_longitude((min(lons) + max(lons)) / 2))
    xs, ys = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lons, lats)
    return grid_from_bounds(crs, min(xs) - margin_m, min(ys) - margin_m, max(xs) + margin_m,
                            max(ys) + margin_m, gsd_m)


def grid_transform(grid: SiteGrid) -> Affine:
    """The affine from grid pixel (col, row) to site CRS (x, y), north up."""
    return Affine(grid.gsd_m, 0.0, grid.origin_x, 0.0, -grid.gsd_m, grid.origin_y)


def grid_centre_lonlat(grid: SiteGrid) -> tuple[float, float]:
    x, y = grid.to_map(grid.width_px / 2, grid.height_px / 2)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return lon, lat


def check_grid_crs(grid: SiteGrid) -> None:
    """Refuse a grid whose CRS is not projected in metres (the conventions demand it)."""
    crs = CRS.from_user_input(grid.crs)
    if not crs.is_projected:
        raise ValueError(f"site grid CRS {grid.crs} is not projected")
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if unit not in ("metre", "meter", "m"):
        raise ValueError(f"site grid CRS {grid.crs} is in {unit!r}, not metres")
