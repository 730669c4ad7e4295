"""The REST API on the sample site (sitewatch.web.sample): every endpoint, its refusals,
and its figures against the sample's known contents."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import cv2  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from pyproj import Transformer  # noqa: E402

from sitewatch.web import WebSettings, create_app  # noqa: E402
from sitewatch.web.sample import DATES, SITE, expected_counts  # noqa: E402

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    """The sample, built once per test session (shared with the other web test modules)."""
    from sitewatch.web.sample import sample_cache

    return sample_cache(tmp_path_factory.getbasetemp() / "web-sample-cache")


@pytest.fixture
def data_dir(sample_dir, tmp_path) -> Path:
    """A private copy of the sample's catalog and reports (imagery is only read, so shared)."""
    from sitewatch.web.sample import sample_copy

    d = tmp_path / "data"
    sample_copy(sample_dir, d)
    return d


def make_client(data_dir: Path, **kw) -> TestClient:
    settings = WebSettings(data_dir=data_dir, db=str(data_dir / "catalog.db"), token=kw.pop("token", TOKEN), **kw)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(data_dir):
    with make_client(data_dir) as c:
        yield c


def is_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["detail"] and "Traceback" not in r.text
    return body


# --- OpenAPI ----------------------------------------------------------------------------

def test_openapi_document_validates(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/openapi.json").json()
    validate(doc)
    paths = doc["paths"]
    for p in ("/api/sites", "/api/sites/{site}/detections", "/api/sites/{site}/events", "/api/uploads",
              "/api/sites/{site}/jobs", "/api/jobs/{job_id}", "/api/events/{event_id}/verdict",
              "/api/images/{image_id}/tiles/{z}/{x}/{y}.{fmt}", "/api/sites/{site}/reports/{name}",
              "/api/sites/{site}/assessment", "/api/sites/{site}/zones", "/api/sites/{site}/images",
              "/api/sites/{site}/tracks"):
        assert p in paths, p


# --- sites, zones, images ---------------------------------------------------------------

def test_sites_and_zones(client):
    sites = client.get("/api/sites").json()
    assert [s["name"] for s in sites] == [SITE]
    s = sites[0]
    assert s["grid"]["crs"] == "EPSG:32636"  # UTM zone 36N holds lon 35.948
    assert s["image_count"] == len(DATES)
    assert client.get(f"/api/sites/{SITE}").json()["name"] == SITE
    zones = client.get(f"/api/sites/{SITE}/zones").json()
    assert {f["properties"]["name"] for f in zones["features"]} == {"transport_apron", "helipad", "s400_site",
                                                                     "tactical_apron"}
    for f in zones["features"]:
        lon, lat = f["geometry"]["coordinates"][0][0]
        # the site is 400 m across: every zone corner lies within 0.005 deg (~450 m) of its point
        assert abs(lon - s["lon"]) < 0.005 and abs(lat - s["lat"]) < 0.005


def test_unknown_site_is_404_everywhere(client):
    for tail in ("", "/zones", "/images", "/detections", "/counts", "/tracks", "/events", "/assessment", "/reports"):
        is_problem(client.get(f"/api/sites/no-such-site{tail}"), 404)
    is_problem(client.post("/api/sites/no-such-site/jobs", headers=AUTH, json={}), 404)


def test_images_with_alignment(client):
    imgs = client.get(f"/api/sites/{SITE}/images").json()
    assert [i["date"] for i in imgs] == [d.date().isoformat() for d in DATES]
    assert [i["alignment"]["status"] for i in imgs] == ["reference", "ok", "ok"]
    assert all(i["gsd_m"] == pytest.approx(0.5, abs=1e-6) for i in imgs)
    one = client.get(f"/api/images/{imgs[1]['id']}").json()
    assert one["id"] == imgs[1]["id"] and one["alignment"]["quality"] == pytest.approx(1.0)
    assert "ce90_m" in one["alignment"] and "changed_fraction" in one["alignment"]
    # the simulator's images state no source or angles: unknown, not invented; a colour image
    obs = one["observation"]
    assert obs["provider"] is None and obs["sun_elevation_deg"] is None and obs["instruments"] == []
    assert obs["modality"] == "optical_multispectral"
    # no metadata check to fail; the sample's drawn shadows fall south-east, while at 08:40 UTC
    # the sun stands in the south-south-east: the run's shadow check rightly flags the image,
    # and its record says so
    assert one["caveats"] and all(c.startswith("shadow check:") for c in one["caveats"])
    is_problem(client.get("/api/images/0000000000000000"), 404)


# --- detections and counts --------------------------------------------------------------

def _by_date(fc) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in fc["features"]:
        out.setdefault(f["properties"]["date"], []).append(f)
    return out


def test_detections_geojson_and_filters(client):
    fc = client.get(f"/api/sites/{SITE}/detections").json()
    by_date = _by_date(fc)
    for k, d in enumerate(DATES):
        assert len(by_date[d.date().isoformat()]) == sum(expected_counts(k).values())
    f = fc["features"][0]
    assert set(f["properties"]) >= {"class", "type", "state", "score"}
    # filters: two S-400 launchers on each of the first two dates, three trucks on the last
    assert len(client.get(f"/api/sites/{SITE}/detections", params={"class": "air_defence"}).json()["features"]) == 4
    assert len(client.get(f"/api/sites/{SITE}/detections", params={"type": "truck"}).json()["features"]) == 3
    last = DATES[2].date().isoformat()
    r = client.get(f"/api/sites/{SITE}/detections", params={"date": last, "type": "An-124"}).json()
    assert [x["properties"]["state"] for x in r["features"]] == ["cargo_open", "cargo_open"]
    assert client.get(f"/api/sites/{SITE}/detections", params={"date": "2020-01-01"}).json()["features"] == []
    is_problem(client.get(f"/api/sites/{SITE}/detections", params={"date": "13/12/2024"}), 422)
    is_problem(client.get(f"/api/sites/{SITE}/detections", params={"bbox": "1,2,3"}), 422)
    is_problem(client.get(f"/api/sites/{SITE}/detections", params={"image_id": "nope"}), 404)


def test_detection_geometry_is_lonlat_with_true_size(client):
    """Projected back to the site CRS, an An-124 box has the catalogue's length and span:
    a swapped axis or wrong CRS would distort it by far more than 5 cm (a tenth of a pixel)."""
    fc = client.get(f"/api/sites/{SITE}/detections", params={"type": "An-124", "date": "2024-11-28"}).json()
    to_utm = Transformer.from_crs("EPSG:4326", fc["site_crs"], always_xy=True)
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    xs, ys = to_utm.transform([p[0] for p in ring], [p[1] for p in ring])
    sides = sorted(float(np.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i])) for i in range(4))
    assert sides[0] == pytest.approx(69.1, abs=0.05) and sides[3] == pytest.approx(73.3, abs=0.05)


def test_detections_bbox_filter(client):
    fc = client.get(f"/api/sites/{SITE}/detections", params={"class": "air_defence"}).json()
    lons = [p[0] for f in fc["features"] for p in f["geometry"]["coordinates"][0]]
    lats = [p[1] for f in fc["features"] for p in f["geometry"]["coordinates"][0]]
    bbox = f"{min(lons)},{min(lats)},{max(lons)},{max(lats)}"
    inside = client.get(f"/api/sites/{SITE}/detections", params={"bbox": bbox}).json()["features"]
    assert {f["properties"]["type"] for f in inside} == {"S-400 launcher"}
    assert len(inside) == 4


def test_counts_per_type_over_time(client):
    c = client.get(f"/api/sites/{SITE}/counts").json()
    assert [d["date"] for d in c["dates"]] == [d.date().isoformat() for d in DATES]
    for k, row in enumerate(c["dates"]):
        assert row["counts"] == expected_counts(k)


def test_tracks_follow_each_item_across_dates(client):
    """The sample has 14 items (sample.ITEMS); each An-124 is seen on all three dates and
    opens its cargo doors on the last; the S-400 launchers are seen on the first two only."""
    from sitewatch.web.sample import ITEMS

    ts = client.get(f"/api/sites/{SITE}/tracks").json()
    assert len(ts) == len(ITEMS)
    an124 = [t for t in ts if t["type"] == "An-124"]
    assert len(an124) == 2 and all(t["class"] == "aircraft" for t in an124)
    for t in an124:
        assert [(x["date"], x["state"]) for x in t["sightings"]] == [
            ("2024-11-28", "normal"), ("2024-12-05", "normal"), ("2024-12-13", "cargo_open")]
    s400 = [t for t in ts if t["type"] == "S-400 launcher"]
    assert all([x["date"] for x in t["sightings"]] == ["2024-11-28", "2024-12-05"] for t in s400)
    is_problem(client.get("/api/sites/nowhere/tracks"), 404)


# --- events, verdicts, assessment -------------------------------------------------------

def _events(client):
    return client.get(f"/api/sites/{SITE}/events").json()


def test_events_with_evidence_and_bounds(client):
    evs = _events(client)
    kinds = {(e["kind"], e["type"]) for e in evs}
    assert ("departed", "S-400 launcher") in kinds and ("state_changed", "An-124") in kinds
    for e in evs:
        w, s, east, n = e["bounds_lonlat"]
        side = e["after"] or e["before"]
        for lon, lat in side["geometry"]["coordinates"][0]:
            assert w <= lon <= east and s <= lat <= n
        assert e["verdict"] is None
        # every event names the two dates it lies between, arrivals and departures too
        assert e["before_image"] and e["after_image"] and e["before_date"] < e["after_date"]
        assert {(x["note"], x["image_id"]) for x in e["evidence"]} >= {("before", e["before_image"]),
                                                                      ("after", e["after_image"])}
    assert any(e["kind"] == "departed" and e["after"] is None for e in evs)


def test_verdict_needs_token_and_counts_in_assessment(data_dir):
    with make_client(data_dir) as c:
        a0 = c.get(f"/api/sites/{SITE}/assessment").json()
        assert a0["assessment"]["caveats"] and SITE.split("-")[0].title() in a0["assessment"]["headline"]
        cited = a0["review"]["cited"]
        assert cited, "the sample's assessment cites events"
        target = cited[0]
        is_problem(c.post(f"/api/events/{target}/verdict", json={"verdict": "rejected"}), 401)
        is_problem(c.post(f"/api/events/{target}/verdict", json={"verdict": "rejected"},
                          headers={"Authorization": "Bearer wrong"}), 401)
        assert c.get(f"/api/sites/{SITE}/assessment").json()["review"]["counts"]["rejected"] == 0
        r = c.post(f"/api/events/{target}/verdict", json={"verdict": "rejected", "note": "shadow"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["verdict"]["verdict"] == "rejected"
        rev = c.get(f"/api/sites/{SITE}/assessment").json()["review"]
        assert rev["counts"]["rejected"] == 1 and rev["cited_rejected"] == [target]
        assert any("rejected 1 of" in x for x in rev["caveats"])
        # the latest verdict counts
        c.post(f"/api/events/{target}/verdict", json={"verdict": "confirmed"}, headers=AUTH)
        rev = c.get(f"/api/sites/{SITE}/assessment").json()["review"]
        assert rev["counts"]["rejected"] == 0 and rev["counts"]["confirmed"] == 1
        is_problem(c.post("/api/events/no-such-event/verdict", json={"verdict": "confirmed"}, headers=AUTH), 404)
        is_problem(c.post(f"/api/events/{target}/verdict", json={"verdict": "maybe"}, headers=AUTH), 422)
    with make_client(data_dir, token=None) as c:  # no token configured: the server refuses writes
        is_problem(c.post(f"/api/events/{target}/verdict", json={"verdict": "rejected"}, headers=AUTH), 401)


def test_rejections_restate_the_assessment(data_dir):
    """Rejecting the events a withdrawal rests on changes the judgement: without the S-400
    departures it is still a withdrawal, citing loading and dismantling only; without the
    An-124, Ka-52 and S-400 events too, nothing points to a withdrawal any more."""
    with make_client(data_dir) as c:
        body = c.get(f"/api/sites/{SITE}/assessment").json()
        assert body["reviewed"] is None and body["assessment"]["posture"] == "withdrawal"
        evs = _events(c)

        def reject(types):
            for e in evs:
                if e["type"] in types:
                    assert c.post(f"/api/events/{e['id']}/verdict", json={"verdict": "rejected"},
                                  headers=AUTH).status_code == 200

        reject({"S-400 launcher"})
        r = c.get(f"/api/sites/{SITE}/assessment").json()["reviewed"]
        assert r["posture"] == "withdrawal" and "S-400" not in r["headline"] and "An-124" in r["headline"]
        assert len(r["without_events"]) == 2  # the sample's two S-400 launchers
        reject({"An-124", "Ka-52"})
        r = c.get(f"/api/sites/{SITE}/assessment").json()["reviewed"]
        assert r["posture"] != "withdrawal" and r["indicators"] == []
        # the stored assessment is untouched: the restatement sits beside it
        assert c.get(f"/api/sites/{SITE}/assessment").json()["assessment"]["posture"] == "withdrawal"


# --- reports and traversal --------------------------------------------------------------

def test_reports_listed_and_downloaded(client):
    files = client.get(f"/api/sites/{SITE}/reports").json()
    names = {f["name"] for f in files}
    assert f"{SITE}.html" in names and f"{SITE}.geojson" in names
    r = client.get(f"/api/sites/{SITE}/reports/{SITE}.geojson")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert r.json()["type"] == "FeatureCollection"
    is_problem(client.get(f"/api/sites/{SITE}/reports/missing.html"), 404)


@pytest.mark.parametrize("path", [
    f"/api/sites/{SITE}/reports/..%2F..%2Fcatalog.db",
    f"/api/sites/{SITE}/reports/%2e%2e",
    f"/api/sites/{SITE}/reports/.hidden",
    f"/api/sites/{SITE}/reports/..%5Ccatalog.db",
    "/static/..%2F..%2F..%2Fpyproject.toml",
    "/static/../../catalog.db",
    "/api/sites/..%2F..%2Fetc/reports/passwd",
])
def test_path_traversal_is_refused(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert b"sqlite" not in r.content.lower()[:64] and b"[project]" not in r.content


# --- tiles ------------------------------------------------------------------------------

def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int, float, float]:
    """XYZ tile holding lon/lat, and the point's pixel inside it."""
    import math

    n = 2 ** z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int(fx), int(fy), (fx % 1) * 256, (fy % 1) * 256


def _png(r) -> np.ndarray:
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)


def test_tiles_show_the_image_where_it_is(client):
    """At zoom 19 (about 0.24 m per tile pixel here) the pixel under an An-124's centre is
    the aircraft's light grey, and a tile far away is transparent."""
    img = client.get(f"/api/sites/{SITE}/images").json()[0]
    f = client.get(f"/api/sites/{SITE}/detections", params={"type": "An-124", "image_id": img["id"]}).json()
    ring = f["features"][0]["geometry"]["coordinates"][0][:4]
    lon, lat = sum(p[0] for p in ring) / 4, sum(p[1] for p in ring) / 4
    x, y, px, py = _tile_of(lon, lat, 19)
    tile = _png(client.get(f"/api/images/{img['id']}/tiles/19/{x}/{y}.png"))
    assert tile.shape == (256, 256, 4)
    b, g, r, a = tile[int(py), int(px)]
    assert a == 255 and r > 180  # the sample draws aircraft at 0.82 of white (209), ground is darker
    # a coarse tile (zoom 12) still shows the whole image, read from an overview
    x12, y12, _, _ = _tile_of(lon, lat, 12)
    coarse = _png(client.get(f"/api/images/{img['id']}/tiles/12/{x12}/{y12}.png"))
    assert 0 < (coarse[..., 3] == 255).sum() < 256 * 256
    far = _png(client.get(f"/api/images/{img['id']}/tiles/19/{x + 50}/{y}.png"))
    assert (far[..., 3] == 0).all()
    jpg = client.get(f"/api/images/{img['id']}/tiles/19/{x}/{y}.jpg")
    assert jpg.status_code == 200 and jpg.headers["content-type"] == "image/jpeg"
    is_problem(client.get(f"/api/images/{img['id']}/tiles/3/9/0.png"), 400)  # zoom 3 has x 0..7
    is_problem(client.get(f"/api/images/{img['id']}/tiles/99/0/0.png"), 422)
    is_problem(client.get("/api/images/ffffffffffffffff/tiles/19/0/0.png"), 404)


# --- uploads ----------------------------------------------------------------------------

def _geotiff_bytes(sample_dir: Path, georef: bool = True, shift_m: float = 0.0) -> bytes:
    """A crop of the sample's first image as a GeoTIFF (optionally shifted far away)."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.windows import Window

    src_path = sorted((sample_dir / "imagery").glob("*.tif"))[0]
    with rasterio.open(src_path) as src:
        win = Window(200, 200, 256, 256)
        data = src.read(window=win)
        transform = src.window_transform(win)
        crs = src.crs
    if shift_m:
        from affine import Affine

        transform = Affine(transform.a, transform.b, transform.c + shift_m, transform.d, transform.e, transform.f)
    profile = {"driver": "GTiff", "width": 256, "height": 256, "count": 3, "dtype": "uint8"}
    if georef:
        profile.update(crs=crs, transform=transform)
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        return mem.read()


def _uploads(data_dir: Path) -> list[str]:
    d = data_dir / "uploads"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_upload_refusals_leave_nothing(data_dir, sample_dir):
    tif = _geotiff_bytes(sample_dir)
    with make_client(data_dir, upload_limit_bytes=len(tif) // 2) as c:
        is_problem(c.post("/api/uploads", content=tif), 401)
        is_problem(c.post("/api/uploads", content=tif, headers={**AUTH, "Content-Type": "image/tiff"}), 413)
        # no Content-Length to trust: the stream itself is cut off at the limit
        chunks = (tif[i:i + 4096] for i in range(0, len(tif), 4096))
        is_problem(c.post("/api/uploads", content=chunks, headers={**AUTH, "Content-Type": "image/tiff"}), 413)
        assert _uploads(data_dir) == []
    with make_client(data_dir) as c:
        is_problem(c.post("/api/uploads", content=b"just some text\n" * 100, headers=AUTH), 415)
        ok, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
        is_problem(c.post("/api/uploads", files={"file": ("a.png", png.tobytes(), "image/png")}, headers=AUTH), 415)
        is_problem(c.post("/api/uploads", content=_geotiff_bytes(sample_dir, georef=False), headers=AUTH), 422)
        far = _geotiff_bytes(sample_dir, shift_m=50_000)  # 50 km east: no site there
        is_problem(c.post("/api/uploads", content=far, headers=AUTH), 422)
        is_problem(c.post("/api/uploads", files={"other": ("x.tif", tif, "image/tiff")}, headers=AUTH), 400)
        is_problem(c.post("/api/uploads", content=b"", headers=AUTH), 400)
        wrong = is_problem(c.post("/api/uploads", content=tif, headers={**AUTH, "Content-Type": "application/json"}), 415)
        assert "application/json" in wrong["detail"] and "image/tiff" in wrong["detail"]
        is_problem(c.post("/api/uploads", params={"site": "nowhere"}, content=tif, headers=AUTH), 404)
        n_images = len(c.get(f"/api/sites/{SITE}/images").json())
    assert _uploads(data_dir) == [] and n_images == len(DATES)


def test_upload_stores_under_generated_name_and_ingests(data_dir, sample_dir):
    tif = _geotiff_bytes(sample_dir)
    with make_client(data_dir) as c:
        r = c.post("/api/uploads", params={"site": SITE, "acquired": "2024-12-20T09:00:00Z"},
                   files={"file": ("../../evil name.tif", tif, "image/tiff")}, headers=AUTH)
        assert r.status_code == 201, r.text
        body = r.json()
        stored = _uploads(data_dir)
        assert stored == [body["stored_as"]] and len(body["stored_as"]) == 32 + 4  # uuid4 hex + ".tif"
        assert body["image"]["date"] == "2024-12-20"
        imgs = c.get(f"/api/sites/{SITE}/images").json()
        assert len(imgs) == len(DATES) + 1
        # the same bytes again (raw body this time) are a duplicate: refused, nothing more stored
        is_problem(c.post("/api/uploads", content=tif, headers={**AUTH, "Content-Type": "image/tiff"}), 409)
        assert _uploads(data_dir) == stored


# --- jobs -------------------------------------------------------------------------------

def test_job_reprocesses_and_keeps_verdicts(data_dir):
    with make_client(data_dir) as c:
        is_problem(c.post(f"/api/sites/{SITE}/jobs", json={"align": False, "detect": False}), 401)
        evs = _events(c)
        dep = next(e for e in evs if e["kind"] == "departed")
        c.post(f"/api/events/{dep['id']}/verdict", json={"verdict": "confirmed"}, headers=AUTH)
        r = c.post(f"/api/sites/{SITE}/jobs", json={"align": False, "detect": False}, headers=AUTH)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.headers["location"] == f"/api/jobs/{job_id}"
        deadline = time.monotonic() + 120  # a reassessment of the sample takes ~10 s on a loaded 2-core box
        while time.monotonic() < deadline:
            job = c.get(f"/api/jobs/{job_id}").json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.5)
        assert job["status"] == "done", job
        assert job["verdicts_restored"] == 1 and job["report"] == f"{SITE}.html"
        assert any(j["id"] == job_id for j in c.get("/api/jobs").json())
        after = {e["id"]: e for e in _events(c)}
        kept = [e for e in after.values() if e["verdict"] and e["verdict"]["verdict"] == "confirmed"]
        assert len(kept) == 1 and kept[0]["kind"] == "departed" and kept[0]["type"] == dep["type"]
        is_problem(c.get("/api/jobs/nope"), 404)
    # a restarted server still lists the job, as it ended
    with make_client(data_dir) as c:
        again = c.get(f"/api/jobs/{job_id}").json()
        assert again["status"] == "done" and again["verdicts_restored"] == 1 and again["finished"] == job["finished"]


def test_a_job_cut_off_by_a_server_stop_is_listed_as_failed(data_dir):
    from sitewatch.store import open_catalog, record_run
    from sitewatch.web.jobs import INTERRUPTED, RUN_KIND, Job

    job = Job(id="cutoff01", site=SITE, align=False, detect=False, status="running", stage="report")
    with open_catalog(str(data_dir / "catalog.db")) as cat:  # as the stopped server left it
        record_run(cat, job.id, RUN_KIND, SITE, "running", job.as_dict())
    with make_client(data_dir) as c:
        got = c.get("/api/jobs/cutoff01").json()
        assert got["status"] == "failed" and got["message"] == INTERRUPTED and got["finished"]
        # it no longer blocks a new job for the site
        r = c.post(f"/api/sites/{SITE}/jobs", json={"align": False, "detect": False}, headers=AUTH)
        assert r.status_code == 202
        assert c.app.state.jobs.wait(r.json()["id"], 120).status == "done"


# --- errors -----------------------------------------------------------------------------

def test_unexpected_errors_are_problems_without_traceback(client, monkeypatch):
    from sitewatch.web import views

    def boom(*a, **k):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(views, "sites", boom)
    body = is_problem(client.get("/api/sites"), 500)
    assert "secret" not in body["detail"] and "RuntimeError" not in str(body)


def test_page_and_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "https://" not in r.text and "http://" not in r.text  # nothing from a CDN
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]


# --- the reference frame ----------------------------------------------------------------

SHIFT_PX = 12  # a misregistration of 6 m at 0.5 m GSD: more than half a truck's 8 m length


def test_reference_frame_moves_tiles_and_boxes_together(data_dir):
    """Give the last image a misregistration (its content 12 px east of the reference). In
    the reference frame its boxes move back by 6 m and its tiles with them, so the pixel
    under a truck's box centre stays truck-grey (a tile moved the wrong way would put the
    truck 12 m away from its box, on bare ground); in the image frame both stay where the
    file puts them."""
    from sitewatch.store import AlignmentResult, open_catalog, save_alignment

    with make_client(data_dir) as c:
        imgs = c.get(f"/api/sites/{SITE}/images").json()
    last = imgs[-1]
    with open_catalog(str(data_dir / "catalog.db")) as cat:
        save_alignment(cat, SITE, AlignmentResult(last["id"], imgs[0]["id"], "ok", dx_px=SHIFT_PX,
                                                  matrix=(1.0, 0.0, SHIFT_PX, 0.0, 1.0, 0.0), quality=1.0))
    with make_client(data_dir) as c:
        centres = {}
        for frame in ("image", "reference"):
            fc = c.get(f"/api/sites/{SITE}/detections", params={"image_id": last["id"], "type": "truck",
                                                                 "frame": frame}).json()
            # the northernmost truck: open ground around it, so a misplaced tile shows ground
            f = max(fc["features"], key=lambda ft: ft["geometry"]["coordinates"][0][0][1])
            assert f["properties"]["frame"] == frame
            to_utm = Transformer.from_crs("EPSG:4326", fc["site_crs"], always_xy=True)
            ring = f["geometry"]["coordinates"][0][:4]
            lon, lat = sum(p[0] for p in ring) / 4, sum(p[1] for p in ring) / 4
            centres[frame] = to_utm.transform(lon, lat)
            x, y, px, py = _tile_of(lon, lat, 19)
            r = c.get(f"/api/images/{last['id']}/tiles/19/{x}/{y}.png", params={"frame": frame})
            assert r.headers["x-sitewatch-frame"] == frame
            b, g, red, a = _png(r)[int(py), int(px)]
            assert a == 255 and red > 180, frame  # the truck (0.9 of white) is under its box in both frames
        dx = centres["reference"][0] - centres["image"][0]
        dy = centres["reference"][1] - centres["image"][1]
        assert dx == pytest.approx(-SHIFT_PX * 0.5, abs=0.01) and dy == pytest.approx(0.0, abs=0.01)
        # the reference image itself is already in the reference frame
        first = c.get(f"/api/images/{imgs[0]['id']}/tiles/19/0/0.png")
        assert first.headers["x-sitewatch-frame"] == "reference"


def test_a_short_write_token_is_refused_when_the_server_reads_its_settings(monkeypatch, tmp_path):
    from sitewatch.errors import InputError
    from sitewatch.web.settings import from_env

    monkeypatch.setenv("SITEWATCH_TOKEN", "short")
    with pytest.raises(InputError, match="at least 16 characters, got 5"):
        from_env(data_dir=tmp_path)
    monkeypatch.setenv("SITEWATCH_TOKEN", TOKEN)
    assert from_env(data_dir=tmp_path).token == TOKEN


def test_with_allowed_hosts_another_host_header_is_refused(data_dir):
    """DNS rebinding: a page whose own name resolves to the server sends that name in Host."""
    settings = WebSettings(data_dir=data_dir, db=str(data_dir / "catalog.db"), token=TOKEN,
                           allowed_hosts=("localhost", "127.0.0.1"))
    app = create_app(settings)
    with TestClient(app, base_url="http://evil.example") as c:
        assert c.get("/api/sites").status_code == 400
    with TestClient(app, base_url="http://localhost:8000") as c:
        r = c.get("/api/sites")
        assert r.status_code == 200 and r.json()


def test_allowed_hosts_come_from_the_environment(monkeypatch, tmp_path):
    from sitewatch.web.settings import from_env

    monkeypatch.delenv("SITEWATCH_TOKEN", raising=False)
    monkeypatch.setenv("SITEWATCH_ALLOWED_HOSTS", "sitewatch.lan, 10.0.0.5")
    assert from_env(data_dir=tmp_path).allowed_hosts == ("sitewatch.lan", "10.0.0.5")
    monkeypatch.delenv("SITEWATCH_ALLOWED_HOSTS")
    assert from_env(data_dir=tmp_path).allowed_hosts is None
