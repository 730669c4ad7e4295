from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from sitewatch.domain import (
    Assessment,
    ChangeRegion,
    Detection,
    Event,
    Evidence,
    Image,
    OrientedBox,
    PixelWindow,
    Site,
    Track,
    Zone,
)
from sitewatch.errors import CatalogError
from sitewatch.geo.grid import site_grid
from sitewatch.store import (
    AlignmentResult,
    ImageRecord,
    add_image,
    add_site,
    add_verdict,
    alignment_for,
    catalog_url,
    change_regions_for_site,
    detections_for_image,
    event_evidence,
    events_for_site,
    finish_run,
    get_image,
    get_run,
    get_site,
    image_count,
    images_for_site,
    latest_assessment,
    list_sites,
    open_catalog,
    save_alignment,
    save_assessment,
    save_detections,
    save_site_results,
    start_run,
    tracks_for_site,
    verdicts_for_event,
)
from sitewatch.store.models import DetectionRow

GRID = site_grid(35.401, 35.948, 2000, gsd_m=0.5)  # Khmeimim, 2 km square
APRON = Zone("north_apron", "apron", ((GRID.origin_x + 100, GRID.origin_y - 100), (GRID.origin_x + 400, GRID.origin_y - 100),
                                      (GRID.origin_x + 400, GRID.origin_y - 300)))
SITE = Site("khmeimim", "airbase", 35.401, 35.948, GRID, (APRON,))
T0 = datetime(2024, 12, 1, 8, 30, tzinfo=UTC)


def _record(n: int, sites=(("khmeimim", 1.0),), when=T0) -> ImageRecord:
    img = Image(id=f"img{n:04d}", site="khmeimim", path=f"/data/{n}.tif", acquired=when, gsd_m=0.5, crs=GRID.crs,
                width_px=4000, height_px=4000, bands=3, dtype="uint8", cloud_cover=0.1, checksum=f"sum{n:04d}")
    return ImageRecord(image=img, crs_wkt="WKT", footprint_wkt="POLYGON ((35 35, 36 35, 36 36, 35 35))",
                       valid_fraction=0.9, datetime_source="tiff_tag", tiled=True, nodata=0.0, sites=sites)


def _det(image_id: str, x: float, cls="aircraft", typ="An-124", state="cargo_open") -> Detection:
    return Detection(OrientedBox(x, 100.0, 69.1, 73.3, 45.0), cls, typ, state, 0.9, 0.8, 0.7, image_id,
                     PixelWindow(0, 0, 1024, 1024), "sitewatch-obb", "1.0")


def test_migrated_schema_matches_the_models(catalog):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sitewatch.store.models import Base

    with catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_a_catalog_of_the_first_schema_upgrades_and_keeps_its_detections(tmp_path):
    """A catalog at revision 0001 (before detections had a presence score) opens, is
    upgraded in place, and its detections read back unchanged, with no presence score."""
    from alembic import command
    from alembic.config import Config

    from sitewatch.store.catalog import _migrations_dir, current_revision, head_revision

    path = tmp_path / "old.db"
    dets = [_det("img0001", 10.0), _det("img0001", 20.0, "vehicle", "truck", "normal")]
    with open_catalog(path) as cat:
        add_site(cat, SITE)
        add_image(cat, _record(1))
        save_detections(cat, start_run(cat, "detect", "khmeimim"), dets, site="khmeimim", crs=GRID.crs)
        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir())
        with cat.engine.begin() as conn:  # back to the first schema, rows kept
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert current_revision(cat) == "0001"
    with open_catalog(path) as cat:
        assert current_revision(cat) == head_revision() != "0001"
        assert detections_for_image(cat, "img0001") == dets
        assert all(d.presence_score is None for d in detections_for_image(cat, "img0001"))


def test_check_caveats_upgrade_from_0009_and_each_save_replaces_the_last(tmp_path):
    """A catalog at 0009 (before images kept their checks' caveats) upgrades with its images'
    ingest caveats kept and none of the checks'; a save replaces the image's earlier one, the
    record states it after ingest's own, and an empty save clears it (issue 32)."""
    from alembic import command
    from alembic.config import Config

    from sitewatch.store import get_image, save_check_caveats
    from sitewatch.store.catalog import _migrations_dir, current_revision, head_revision

    path = tmp_path / "old.db"
    img = replace(_record(1).image, caveats=("sun check: off",))
    with open_catalog(path) as cat:
        add_site(cat, SITE)
        add_image(cat, replace(_record(1), image=img))
        cfg = Config()
        cfg.set_main_option("script_location", _migrations_dir())
        with cat.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
        assert current_revision(cat) == "0009"
    with open_catalog(path) as cat:
        assert current_revision(cat) == head_revision() == "0010"
        assert get_image(cat, "img0001").caveats == ("sun check: off",)
        save_check_caveats(cat, {"img0001": ["shadow check: one"], "gone": ["shadow check: x"]})
        save_check_caveats(cat, {"img0001": ["shadow check: two", "shadow check: two"]})
        assert get_image(cat, "img0001").caveats == ("sun check: off", "shadow check: two")
        save_check_caveats(cat, {"img0001": []})
        assert get_image(cat, "img0001").caveats == ("sun check: off",)


def test_site_round_trip_with_zones(catalog):
    add_site(catalog, SITE)
    assert get_site(catalog, "khmeimim") == SITE
    assert list_sites(catalog) == [SITE]
    with pytest.raises(CatalogError, match="already"):
        add_site(catalog, SITE)
    with pytest.raises(CatalogError, match="no site named 'tartus'.*khmeimim"):
        get_site(catalog, "tartus")


def test_images_round_trip_in_date_order(catalog):
    add_site(catalog, SITE)
    later = datetime(2024, 12, 9, 8, 30, tzinfo=UTC)
    add_image(catalog, _record(2, when=later))
    add_image(catalog, _record(1))
    imgs = images_for_site(catalog, "khmeimim")
    assert [i.id for i in imgs] == ["img0001", "img0002"]
    assert imgs[0].acquired == T0 and imgs[0].site == "khmeimim" and imgs[0].cloud_cover == pytest.approx(0.1)
    assert get_image(catalog, "img0002") == imgs[1]


def test_duplicate_or_unknown_site_image_leaves_catalog_unchanged(catalog):
    add_site(catalog, SITE)
    add_image(catalog, _record(1))
    with pytest.raises(CatalogError, match="duplicate"):
        add_image(catalog, _record(1))
    with pytest.raises(CatalogError, match="no site named 'nowhere'"):
        add_image(catalog, _record(3, sites=(("khmeimim", 1.0), ("nowhere", 1.0))))
    assert image_count(catalog) == 1  # the half-written image 3 was rolled back


def test_alignment_is_replaced_not_duplicated(catalog):
    add_site(catalog, SITE)
    add_image(catalog, _record(1))
    first = AlignmentResult("img0001", "img0000", "failed", reason="too cloudy")
    save_alignment(catalog, "khmeimim", first)
    second = AlignmentResult("img0001", "img0000", "ok", 3.25, -1.5, 0.25, 1.0, (1, 0, 3.25, 0, 1, -1.5), 0.9, 0.05, 40, 49)
    save_alignment(catalog, "khmeimim", second)
    got = alignment_for(catalog, "khmeimim", "img0001")
    assert got == AlignmentResult(**{**second.__dict__, "path": "/data/1.tif"})
    with pytest.raises(CatalogError, match="has not been aligned"):
        alignment_for(catalog, "khmeimim", "img0009")


def test_detections_are_stored_per_run_and_all_or_nothing(catalog):
    add_site(catalog, SITE)
    add_image(catalog, _record(1))
    run = start_run(catalog, "detect", "khmeimim", {"model": "m"})
    dets = [_det("img0001", 10.0), _det("img0001", 20.0, "helicopter", "Ka-52", "rotor_removed"),
            replace(_det("img0001", 30.0, "vehicle", "truck", "normal"), presence_score=0.625)]
    save_detections(catalog, run, dets, site="khmeimim", crs=GRID.crs)
    finish_run(catalog, run)
    assert detections_for_image(catalog, "img0001") == dets
    assert get_run(catalog, run.id).status == "done"
    # a detection with no image id aborts the whole batch
    run2 = start_run(catalog, "detect", "khmeimim")
    with pytest.raises(CatalogError, match="image_id"):
        save_detections(catalog, run2, [_det("img0001", 30.0), _det("", 40.0)])
    with catalog.reading() as s:
        assert len(s.scalars(select(DetectionRow).where(DetectionRow.run_id == run2.id)).all()) == 0


def test_tracks_events_regions_assessment_verdicts(catalog):
    add_site(catalog, SITE)
    add_image(catalog, _record(1))
    add_image(catalog, _record(2, when=datetime(2024, 12, 9, tzinfo=UTC)))
    run = start_run(catalog, "compare", "khmeimim")
    a, b = _det("img0001", 10.0, state="normal"), _det("img0002", 10.5)
    track = Track("t1", "khmeimim", "aircraft", "An-124", {"img0001": a, "img0002": b})
    ev = Event("e1", "state_changed", "khmeimim", "t1", "aircraft", "An-124", a, b, 0.8, "north_apron", "nose up")
    evidence = [Evidence("img0002", PixelWindow(10, 20, 256, 256), "e1", "after")]
    region = ChangeRegion("c1", "khmeimim", ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0)), 50.0, 0.7, None, "img0001", "img0002")
    save_site_results(catalog, run, "khmeimim", [track], [ev], [region], {"e1": evidence})
    assert tracks_for_site(catalog, "khmeimim")[0].sightings == {"img0001": a, "img0002": b}
    assert events_for_site(catalog, "khmeimim") == [ev]
    assert event_evidence(catalog, "e1") == evidence
    assert change_regions_for_site(catalog, "khmeimim") == [region]
    assessment = Assessment("khmeimim", T0, datetime(2024, 12, 9, tzinfo=UTC), "withdrawal", "likely",
                            "moderate", "A withdrawal is likely under way.", ("heavy transports loading",),
                            tuple(evidence), ("one pair of dates",))
    save_assessment(catalog, run, assessment)
    assert latest_assessment(catalog, "khmeimim") == assessment
    add_verdict(catalog, "e1", "confirmed", "nose visor clearly raised")
    assert [v[:2] for v in verdicts_for_event(catalog, "e1")] == [("confirmed", "nose visor clearly raised")]
    with pytest.raises(CatalogError, match="verdict must be"):
        add_verdict(catalog, "e1", "maybe")


def test_catalog_location_argument_then_env_then_default(tmp_path, monkeypatch):
    monkeypatch.delenv("SITEWATCH_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert catalog_url() == f"sqlite:///{tmp_path}/sitewatch-data/catalog.db"
    monkeypatch.setenv("SITEWATCH_DB", str(tmp_path / "env.db"))
    assert catalog_url() == f"sqlite:///{tmp_path}/env.db"
    assert catalog_url(tmp_path / "arg.db") == f"sqlite:///{tmp_path}/arg.db"
    assert catalog_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with open_catalog() as cat:
        add_site(cat, SITE)
    with open_catalog(str(tmp_path / "env.db")) as cat:  # reopening keeps the data
        assert [s.name for s in list_sites(cat)] == ["khmeimim"]


def test_unreachable_database_is_a_catalog_error(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("this is not a database file, just some text\n" * 100)
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        open_catalog(not_a_db)


def _open_and_count(url: str) -> int:
    with open_catalog(url) as cat:
        return len(list_sites(cat))


def test_many_processes_opening_a_new_catalog_at_once(catalog_url):
    """Four processes create and migrate the same empty catalog at the same moment."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open_and_count, [catalog_url] * 4) == [0, 0, 0, 0]
    with open_catalog(catalog_url) as cat:
        add_site(cat, SITE)
        assert [s.name for s in list_sites(cat)] == ["khmeimim"]
