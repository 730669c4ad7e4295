"""The analyst report: one self-contained HTML file per site (images embedded as base64),
plus the exports beside it. Everything is written atomically."""

from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from sitewatch._version import __version__
from sitewatch.assess.posture import Judgement, pixel_window
from sitewatch.change.events import confidence_band
from sitewatch.change.tracking import Look
from sitewatch.change.zones import ZoneCount, type_label, zone_counts
from sitewatch.domain import ChangeRegion, Detection, Event, OrientedBox, Site
from sitewatch.names import path_inside
from sitewatch.report import exports

CHIP_PX = 192  # chips are shown at this size
OVERVIEW_MAX_PX = 1400


@dataclass
class ReportInput:
    site: Site
    looks: list[Look]  # usable looks, in date order
    events: list[Event]
    pairs: dict[str, tuple[str, str]]  # event id -> (before image, after image)
    regions: list[ChangeRegion]
    judgement: Judgement
    pixels: dict[str, np.ndarray] = field(default_factory=dict)  # image id -> (H, W, 3) uint8 on the site grid
    min_region_m2: float = 100.0


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    geojson: Path
    geopackage: Path
    kml: Path
    counts_csv: Path


def _hex_bgr(hex_rgb: str) -> tuple[int, int, int]:
    return int(hex_rgb[5:7], 16), int(hex_rgb[3:5], 16), int(hex_rgb[1:3], 16)


def _encode(img_rgb: np.ndarray, fmt: str = ".png", quality: int = 85) -> str:
    bgr = cv2.cvtColor(img_rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == ".jpg" else []
    ok, buf = cv2.imencode(fmt, bgr, params)
    if not ok:
        raise RuntimeError(f"could not encode an image as {fmt}")
    return base64.b64encode(buf.tobytes()).decode("ascii")


def _draw_box(img: np.ndarray, site: Site, box: OrientedBox, colour_hex: str, scale: float = 1.0,
              offset: tuple[float, float] = (0, 0), thickness: int = 2) -> None:
    pts = np.array([site.grid.to_pixel(x, y) for x, y in box.corners()])
    pts = ((pts - np.array(offset)) * scale).round().astype(np.int32)
    rgb = _hex_bgr(colour_hex)[::-1]
    cv2.polylines(img, [pts], True, rgb, thickness, cv2.LINE_AA)
    # A tick at the front edge shows the heading.
    front = ((pts[0] + pts[3]) / 2).astype(int)
    centre = pts.mean(axis=0).astype(int)
    cv2.line(img, tuple(int(v) for v in centre), tuple(int(v) for v in front), rgb, 1, cv2.LINE_AA)


def overview(inp: ReportInput) -> dict | None:
    last = inp.looks[-1] if inp.looks else None
    if last is None or last.image.id not in inp.pixels:
        return None
    img = inp.pixels[last.image.id]
    scale = min(1.0, OVERVIEW_MAX_PX / max(img.shape[:2]))
    small = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small)
    for d in last.detections:
        if d.score >= 0.5:
            _draw_box(small, inp.site, d.box, exports.CLASS_COLOURS.get(d.cls, "#ffffff"), scale, thickness=1)
    legend = ", ".join(f"{c} {col}" for c, col in exports.CLASS_COLOURS.items())
    return {"data": _encode(small, ".jpg"), "date": f"{last.image.acquired:%d %b %Y}",
            "caption": f"{last.image.id}, {last.image.acquired:%d %b %Y}: detections coloured by class ({legend})."}


def chip(pixels: np.ndarray, site: Site, centre: tuple[float, float], half_m: float,
         boxes: Sequence[tuple[OrientedBox, str]]) -> str:
    """A square PNG chip centred on a map point, with boxes drawn, scaled to CHIP_PX."""
    col, row = site.grid.to_pixel(*centre)
    half_px = max(int(half_m / site.grid.gsd_m), 8)
    c0, r0 = int(col) - half_px, int(row) - half_px
    size = 2 * half_px
    out = np.zeros((size, size, 3), np.uint8)
    h, w = pixels.shape[:2]
    sc0, sr0, sc1, sr1 = max(c0, 0), max(r0, 0), min(c0 + size, w), min(r0 + size, h)
    if sc1 > sc0 and sr1 > sr0:
        out[sr0 - r0:sr1 - r0, sc0 - c0:sc1 - c0] = pixels[sr0:sr1, sc0:sc1, :3]
    scale = CHIP_PX / size
    out = np.ascontiguousarray(cv2.resize(out, (CHIP_PX, CHIP_PX), interpolation=cv2.INTER_LINEAR))
    for box, colour in boxes:
        _draw_box(out, site, box, colour, scale, (c0, r0))
    return _encode(out)


def event_chips(inp: ReportInput, e: Event) -> list[dict]:
    pair = inp.pairs.get(e.id)
    return pair_chips(inp.site, inp.pixels, pair, e) if pair else []


def pair_chips(site: Site, pixels: Mapping[str, np.ndarray], pair: tuple[str, str], e: Event) -> list[dict]:
    """The event's before and after chips (each with its box drawn), then one per other
    source; images absent from `pixels` give none. Dicts of base64 PNG `data` and `caption`."""
    d = e.after if e.after is not None else e.before
    assert d is not None
    if e.kind == "moved" and e.before is not None and e.after is not None:
        spots = [(e.before, "before, old place"), (e.after, "after, new place")]
    else:
        spots = [(d, "")]
    out = []
    colour = exports.EVENT_COLOURS[e.kind]
    for spot, label in spots:
        half = max(spot.box.length, spot.box.width) * 0.9 + 10.0
        boxes_b = [(e.before.box, colour)] if e.before is not None else []
        boxes_a = [(e.after.box, colour)] if e.after is not None else []
        for img_id, boxes, when in ((pair[0], boxes_b, "before"), (pair[1], boxes_a, "after")):
            if img_id in pixels:
                out.append({"data": chip(pixels[img_id], site, (spot.box.cx, spot.box.cy), half, boxes),
                            "caption": f"{label or when}: {img_id}"})
    out += source_chips(site, pixels, e, d)
    return out


VERDICT_COLOURS = {"supports": "#1a9850", "contradicts": "#d73027", "no_evidence": "#999999"}


def source_chips(site: Site, pixels: Mapping[str, np.ndarray], e: Event, d: Detection) -> list[dict]:
    """One chip per other source of the event's moment, at the item's place, its sighting
    (where it has one) outlined in the colour of its verdict."""
    out = []
    half = max(d.box.length, d.box.width) * 0.9 + 10.0
    for r in e.sources[1:]:
        if r.image_id not in pixels:
            continue
        boxes = [(r.detection.box, VERDICT_COLOURS[r.verdict])] if r.detection is not None else []
        out.append({"data": chip(pixels[r.image_id], site, (d.box.cx, d.box.cy), half, boxes),
                    "caption": f"{r.source}: {r.verdict.replace('_', ' ')} ({r.note}): {r.image_id}"})
    return out


def count_table(looks: Sequence[Look]) -> tuple[list[str], list[dict]]:
    dates = [f"{lk.image.acquired:%Y-%m-%d}" for lk in looks]
    per = [Counter(type_label(d) for d in lk.detections if d.score >= 0.5) for lk in looks]
    types = sorted(set().union(*per)) if per else []
    return dates, [{"type": t, "counts": [c.get(t, 0) for c in per]} for t in types]


def _angle(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def image_rows(looks: Sequence[Look]) -> list[dict]:
    """One row per look for the image table: when, who, how, how well registered, and what
    the integrity checks doubt. A dash is a fact no metadata states."""
    rows = []
    for lk in looks:
        img, o = lk.image, lk.image.observation
        ce90 = lk.registration_ce90_m
        rows.append({"id": img.id, "acquired": f"{img.acquired:%Y-%m-%d %H:%M}", "source": o.source_name or "-",
                     "modality": (o.modality or "-").replace("_", " "), "gsd": f"{img.gsd_m:.2f}",
                     "off_nadir": _angle(o.off_nadir_deg),
                     "sun": f"{_angle(o.sun_azimuth_deg)} / {_angle(o.sun_elevation_deg)}",
                     "ce90": "-" if ce90 is None else f"{ce90:.1f}", "caveats": list(img.caveats)})
    return rows


def count_chart(dates: Sequence[str], rows: Sequence[dict]) -> str | None:
    if not rows:
        return None
    # A bare Figure draws with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(9, 3.6), dpi=100)
    ax = fig.subplots()
    n = len(dates)
    width = 0.8 / max(n, 1)
    x = np.arange(len(rows))
    for i, dname in enumerate(dates):
        ax.bar(x + i * width - 0.4 + width / 2, [r["counts"][i] for r in rows], width, label=dname)
    ax.set_xticks(x, [r["type"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("items seen")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def region_map(inp: ReportInput) -> str | None:
    if not inp.regions or not inp.looks:
        return None
    after = inp.regions[0].after_image
    if after not in inp.pixels:
        return None
    img = inp.pixels[after]
    scale = min(1.0, OVERVIEW_MAX_PX / max(img.shape[:2]))
    small = np.ascontiguousarray(cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)),
                                            interpolation=cv2.INTER_AREA))
    for r in inp.regions:
        pts = (np.array([inp.site.grid.to_pixel(x, y) for x, y in r.polygon]) * scale).round().astype(np.int32)
        cv2.polylines(small, [pts], True, (0, 255, 255), 2, cv2.LINE_AA)
    return _encode(small, ".jpg")


def _all_counts(inp: ReportInput) -> list[ZoneCount]:
    out: list[ZoneCount] = []
    for lk in inp.looks:
        out += zone_counts(inp.site, lk.image.id, [d for d in lk.detections if d.score >= 0.5])
    return out


def zone_rows(inp: ReportInput, counts: Sequence[ZoneCount]) -> list[dict]:
    ids = [lk.image.id for lk in inp.looks]
    per: dict[str, list[int]] = {}
    for c in counts:
        per.setdefault(c.zone, [0] * len(ids))[ids.index(c.image_id)] += c.count
    return [{"zone": z, "counts": v} for z, v in sorted(per.items())]


def render_html(inp: ReportInput) -> str:
    env = Environment(loader=PackageLoader("sitewatch.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    dates, rows = count_table(inp.looks)
    counts = _all_counts(inp)
    events = []
    order = {"departed": 0, "arrived": 1, "state_changed": 2, "moved": 3}
    for e in sorted(inp.events, key=lambda e: (e.confidence < 0.5, order[e.kind], -e.confidence)):
        d = e.after if e.after is not None else e.before
        pair = inp.pairs.get(e.id, ("", ""))
        events.append({"id": e.id, "kind": e.kind.replace("_", " "), "note": e.note, "zone": e.zone,
                       "confidence": e.confidence, "band": confidence_band(e.confidence),
                       "before_image": pair[0], "after_image": pair[1],
                       "window": pixel_window(inp.site.grid, d) if d else None, "chips": event_chips(inp, e),
                       "grade": (e.grade or "").replace("_", " "),
                       "sources": [{"name": r.source, "verdict": r.verdict.replace("_", " "), "note": r.note,
                                    "image": r.image_id} for r in e.sources]})
    return env.get_template("report.html.j2").render(
        site=inp.site, looks=inp.looks, image_rows=image_rows(inp.looks), assessment=inp.judgement.assessment,
        version=__version__,
        overview=overview(inp), events=events, count_dates=dates, count_rows=rows, chart=count_chart(dates, rows),
        zone_rows=zone_rows(inp, counts), regions=inp.regions, region_map=region_map(inp),
        min_region_m2=inp.min_region_m2)


REPORT_SUFFIXES = (".html", ".geojson", ".gpkg", ".kml", ".counts.csv")


def check_report_name(out_dir: str | Path, site_name: str) -> None:
    """InputError unless every report file of the site lands inside out_dir: callers check
    before the work whose results the report would hold."""
    for suffix in REPORT_SUFFIXES:
        path_inside(out_dir, f"{site_name}{suffix}")


def write_report(inp: ReportInput, out_dir: str | Path) -> ReportFiles:
    """Write `<site>.html` and the exports into out_dir. Everything is built in a hidden
    folder inside out_dir and moved into place only once all of it exists, so a failure
    leaves no half-written output."""
    name = inp.site.name
    check_report_name(out_dir, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = render_html(inp)
    dets: list[Detection] = [d for lk in inp.looks for d in lk.detections]
    counts = _all_counts(inp)
    dates = {lk.image.id: f"{lk.image.acquired:%Y-%m-%d}" for lk in inp.looks}
    stage = Path(tempfile.mkdtemp(prefix=f".report-{name}-", dir=out))
    try:
        staged = ReportFiles(stage / f"{name}.html", stage / f"{name}.geojson", stage / f"{name}.gpkg",
                             stage / f"{name}.kml", stage / f"{name}.counts.csv")
        exports.write_geojson(staged.geojson, inp.site, dets, inp.events, inp.pairs, inp.regions)
        exports.write_geopackage(staged.geopackage, inp.site, dets, inp.events, inp.pairs, inp.regions)
        exports.write_kml(staged.kml, inp.site, dets, inp.events, inp.pairs, inp.regions)
        exports.write_counts_csv(staged.counts_csv, counts, dates)
        exports.write_text_atomic(staged.html, html)
        final = ReportFiles(*(out / p.name for p in (staged.html, staged.geojson, staged.geopackage, staged.kml,
                                                       staged.counts_csv)))
        for src, dst in zip((staged.geojson, staged.geopackage, staged.kml, staged.counts_csv, staged.html),
                            (final.geojson, final.geopackage, final.kml, final.counts_csv, final.html)):
            os.replace(src, dst)  # the HTML last: it only appears once its exports exist
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return final
