"""`sitewatch watch` on a real STAC API served on loopback by the test (tests/stac_api_server.py:
a small STAC API written for the tests, by uvicorn; not stac-fastapi + pgstac), with the
simulator's small base published item by item while the watcher watches.

Known answers, as in test_watch: the first date alone gives no alert; the second gives 6
(4 S-400 launchers departed, 1 An-124 arrived, the posture turned to withdrawal). Faults: the
first search answered 429 with Retry-After, a page answered 500 once in the middle of a
search, and an item published while a search pages through the results."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("pystac_client")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from sitewatch.store import images_for_site, list_alerts, open_catalog, watched_files  # noqa: E402
from tests.stac_api_server import Served, StacApiState, smallbase_with_later_copy  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("sitewatch"))
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The two dates (tif, footprint geometry, datetime) and a third: the second's pixels with
    one changed, so a new file of a later date showing the same scene."""
    return smallbase_with_later_copy(tmp_path_factory.mktemp("smallbase-api"))


def _catalog(tmp_path: Path, url: str, **cli) -> Path:
    import sitewatch
    from sitewatch.store import add_subscription
    from sitewatch.watch.stac_api import ApiSource

    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("stac-api", ApiSource(url, "vhr").to_location())], RULES)
    return db


def _watcher(cat, tmp_path: Path, said: list[str], rate: float = 5.0):
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    return Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0, say=said.append, host_rate=rate,
                   api_options={"backoff_s": 0.2})


def _searches(state: StacApiState) -> list[tuple[float, str, str, int]]:
    return [r for r in state.log if r[2] == "/search"]


def test_items_published_while_watching_are_taken_once_despite_a_429_a_failed_page_and_shifting_pages(scenes, tmp_path):
    state = StacApiState(filter_support=True, page_cap=1, throttle_first=1.0)
    api = Served(state)
    try:
        db = _catalog(tmp_path, api.url)
        said: list[str] = []
        with open_catalog(db) as cat:
            w = _watcher(cat, tmp_path, said)
            tif, geom, when = scenes["2024-12-05"]
            state.add_item("a-2024-12-05", tif, geom, when)
            report = w.run_pass()
            assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
            assert list_alerts(cat) == []
            (throttled,) = [r for r in state.log if r[3] == 429]
            after = [r for r in _searches(state) if r[0] > throttled[0]]
            assert after and after[0][0] - throttled[0] >= 0.95, "Retry-After: 1 not honoured"

            # The second date; its search runs over two pages (one item a page), the second of
            # which fails once; while page 1 is served, a third item is published, which moves
            # the second page's item back onto it (offset paging, newest first).
            tif, geom, when = scenes["2024-12-10"]
            state.add_item("b-2024-12-10", tif, geom, when)
            state.fail_page = 2

            def publish_mid_search(page: int) -> None:
                if page == 1 and "c-2024-12-12" not in state.items:
                    t, g, d = scenes["2024-12-12"]
                    state.add_item("c-2024-12-12", t, g, d)

            state.on_page = publish_mid_search
            before = len(_searches(state))
            report = w.run_pass()
            state.on_page = None
            # page 1, page 2 failing, page 2 again (the item of page 1 again: counted once), page 3
            assert [r[3] for r in _searches(state)[before:]] == [200, 500, 200, 200]
            assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
            assert 2 in state.failed_pages and not report.failed
            alerts = list_alerts(cat)
            assert len(alerts) == 6 and len({a.id for a in alerts}) == 6
            assert {a.image_id for a in alerts} == {report.taken[0].image_id}

            # The item published mid-search is found by the next search (its window reaches
            # back over the overlap), once.
            report = w.run_pass()
            assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
            assert "c-2024-12-12" in report.taken[0].path
            assert w.run_pass().taken == []
            assets = [r for r in state.log if r[2].startswith("/assets/")]
            assert len(assets) == 3  # each asset downloaded once
            ids = [a.id for a in list_alerts(cat)]
            assert len(ids) == len(set(ids)) and len(ids) >= 6
            images = images_for_site(cat, SITE)
            assert sorted(i.acquired.date().isoformat() for i in images) == ["2024-12-05", "2024-12-10", "2024-12-12"]
            rows = watched_files(cat, cat_source_id(cat))
            assert sorted(r["path"].split("/items/")[1] for r in rows) == [
                "a-2024-12-05#visual", "b-2024-12-10#visual", "c-2024-12-12#visual"]

        # The per-host rate limit (5 a second): no two requests less than 0.2 s apart.
        starts = sorted(r[0] for r in state.log)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert min(gaps) >= 0.17, gaps

        # A restarted watcher (a new process) takes nothing again.
        r = subprocess.run([EXE, "watch", "--once", "--db", str(db), "--out", str(tmp_path / "out")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "0 image(s) processed" in r.stdout
    finally:
        api.stop()


def cat_source_id(cat) -> int:
    from sitewatch.store import list_subscriptions

    (sub,) = list_subscriptions(cat)
    return sub.sources[0].id


def test_without_the_filter_extension_items_are_found_by_datetime_and_a_seen_set(scenes, tmp_path):
    """A server that cannot filter on `updated`: the watcher searches the last two weeks of
    acquisitions and skips what it has taken; an image acquired before the newest one, but
    published after it, is put into the history at its date."""
    state = StacApiState(filter_support=False, page_cap=2)
    api = Served(state)
    try:
        db = _catalog(tmp_path, api.url)
        now = datetime.now(UTC).replace(microsecond=0)
        said: list[str] = []
        with open_catalog(db) as cat:
            w = _watcher(cat, tmp_path, said, rate=50.0)
            tif, geom, _ = scenes["2024-12-05"]
            state.add_item("a", tif, geom, now - timedelta(days=3))
            tif, geom, _ = scenes["2024-12-12"]
            state.add_item("c", tif, geom, now - timedelta(days=1))
            report = w.run_pass()
            assert sorted(t.status for t in report.taken) == ["processed", "processed"], (report.failed, said)
            assert all(r[3] == 200 for r in state.log)  # no filter was sent to a server without one
            assert w.run_pass().taken == []

            tif, geom, _ = scenes["2024-12-10"]  # acquired between the two, published late
            state.add_item("b", tif, geom, now - timedelta(days=2))
            report = w.run_pass()
            assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
            dates = [i.acquired for i in images_for_site(cat, SITE)]
            assert len(dates) == 3
            assert w.run_pass().taken == []
            ids = [a.id for a in list_alerts(cat)]
            assert len(ids) == len(set(ids))
    finally:
        api.stop()


def test_an_asset_the_server_no_longer_has_is_refused_and_does_not_block_the_source(scenes, tmp_path):
    state = StacApiState(filter_support=True)
    api = Served(state)
    try:
        db = _catalog(tmp_path, api.url)
        said: list[str] = []
        with open_catalog(db) as cat:
            w = _watcher(cat, tmp_path, said, rate=50.0)
            tif, geom, when = scenes["2024-12-05"]
            state.add_item("gone", tif, geom, when - timedelta(days=1))
            state.assets.pop("gone.tif")
            time.sleep(0.01)
            state.add_item("a", tif, geom, when)
            report = w.run_pass()
            assert [t.status for t in report.taken] == ["refused", "processed"], (report.failed, said)
            assert "404" in report.taken[0].message
            assert w.run_pass().taken == []
    finally:
        api.stop()


def test_polite_http_waits_its_turn_per_host_and_reads_retry_after_dates():
    from sitewatch.watch.polite import HostRateLimit, retry_after_s

    t = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)

    limit = HostRateLimit(4.0, clock=lambda: t[0], sleep=sleep)
    assert [limit.wait("a"), limit.wait("a"), limit.wait("b"), limit.wait("a")] == [0.0, 0.25, 0.0, 0.5]
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("7") == 7.0
    assert retry_after_s("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


@pytest.mark.parametrize(("listed", "expected"), [
    (("datetime", "updated", "created"), ["updated", "created"]),
    (("datetime", "created"), ["created"]),
    (("datetime",), []),  # a stock pgstac: Filter, but no publication stamp to filter on
])
def test_publication_is_filtered_on_only_where_the_queryables_list_it(scenes, tmp_path, listed, expected):
    """A Filter server may refuse (or, like a stock pgstac, fail on) a filter on a property
    its queryables do not list: the watch searches by publication on the listed stamps only,
    and by datetime where neither is listed, and finds the item either way."""
    from shapely.geometry import shape

    from sitewatch.watch.polite import HostRateLimit
    from sitewatch.watch.stac_api import ApiSource, StacApiWatch, _published_since

    state = StacApiState(filter_support=True, queryables=listed)
    api = Served(state)
    try:
        tif, geom, _ = scenes["2024-12-05"]
        now = datetime.now(UTC)
        state.add_item("a", tif, geom, now - timedelta(days=1))
        watch = StacApiWatch(ApiSource(api.url, "vhr"), HostRateLimit(50.0), tmp_path / "downloads")
        assert watch.publication_properties() == expected
        assert watch.mode() == ("published" if expected else "datetime")
        found = watch.search(shape(geom), None, now - timedelta(days=2))
        assert found.mode == watch.mode() and [f.item_id for f in found.found] == ["a"]
        if expected:  # the filter names the listed stamps and no other
            sent = _published_since(now, expected)
            tests = sent["args"] if sent["op"] == "or" else [sent]
            assert [t["args"][0]["property"] for t in tests] == expected
    finally:
        api.stop()
