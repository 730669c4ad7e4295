"""`sitewatch watch` against a real STAC API: stac-fastapi-pgstac, run by uvicorn as a subprocess
of its own venv (.venv-stac) on a free loopback port, over pgstac in the PostgreSQL cluster that
.ci/run starts. scripts/setup_pgstac.sh installs all of it and exports SITEWATCH_TEST_PGSTAC_DSN
and SITEWATCH_TEST_STAC_PYTHON; without them these tests skip and say why.

Items are published through the server's Transactions extension while the watcher watches,
each stamped `updated` at publication as a publisher would; their GeoTIFF assets are served by
a loopback http server of the test, which counts the downloads. Each test starts from an empty
pgstac (no items, no collections).

Known answers, as in test_watch_stac_api: the first date alone gives no alert; the second gives
6 (4 S-400 launchers departed, 1 An-124 arrived, the posture turned to withdrawal).

Which polling mode sitewatch uses depends on the server: stac-fastapi-pgstac advertises the
Filter extension unless ENABLED_EXTENSIONS leaves it out, and pgstac compares a property as a
timestamp only where it is registered in pgstac's queryables (`updated`, `created` with the
to_tstz wrapper; pgstac registers only id, geometry and datetime itself). These tests run a
server with the filter and those queryables (mode "published") and one without the filter
(mode "datetime"), and the stock server (filter, no timestamp queryables), which sitewatch
watches by datetime because its queryables do not list the stamps.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("pystac_client")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
psycopg = pytest.importorskip("psycopg", reason="psycopg (the postgres extra) clears pgstac between tests")

import requests  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import FileResponse, JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from sitewatch.store import images_for_site, list_alerts, list_subscriptions, open_catalog, watched_files  # noqa: E402
from tests.stac_api_server import Served, smallbase_with_later_copy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("sitewatch"))
SITE = "smallbase"
COLLECTION = "vhr"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}
DSN = os.environ.get("SITEWATCH_TEST_PGSTAC_DSN", "")
STAC_PYTHON = os.environ.get("SITEWATCH_TEST_STAC_PYTHON", "")
FILTER_CONFORMANCE = "item-search#filter"
# stac-fastapi-pgstac's search extensions other than the filter, for the server without it
WITHOUT_FILTER = "query,sort,fields,pagination,free_text"


def _skip_reason() -> str | None:
    if not DSN or not STAC_PYTHON:
        failed = ROOT / ".venv-stac.failed"
        why = f" (last setup: {failed.read_text().strip()})" if failed.exists() else ""
        return ("SITEWATCH_TEST_PGSTAC_DSN / SITEWATCH_TEST_STAC_PYTHON unset: no stac-fastapi-pgstac here; "
                f'run eval "$(bash scripts/setup_pgstac.sh)" (as .ci/run does){why}')
    if not os.access(STAC_PYTHON, os.X_OK):
        return f"SITEWATCH_TEST_STAC_PYTHON={STAC_PYTHON} is not an executable (rerun scripts/setup_pgstac.sh)"
    try:
        with psycopg.connect(DSN, connect_timeout=5) as conn:
            conn.execute("SELECT pgstac.get_version()")
    except psycopg.Error as exc:
        return f"pgstac at SITEWATCH_TEST_PGSTAC_DSN does not answer: {str(exc).strip()[:200]}"
    return None


_REASON = _skip_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StacFastapiPgstac:
    """stac-fastapi-pgstac under uvicorn, a subprocess of the stac venv's python, until `stop`."""

    def __init__(self, workdir: Path, extensions: str | None = None):
        dsn = urlsplit(DSN)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_", "ENABLED_EXTENSIONS"))}
        env.update(PGUSER=unquote(dsn.username or ""), PGPASSWORD=unquote(dsn.password or ""),
                   PGHOST=dsn.hostname or "localhost", PGPORT=str(dsn.port or 5432),
                   PGDATABASE=dsn.path.lstrip("/"), ENABLE_TRANSACTIONS_EXTENSIONS="true")
        if extensions is not None:
            env["ENABLED_EXTENSIONS"] = extensions
        workdir.mkdir(parents=True, exist_ok=True)  # its cwd: the settings read a .env there, if any
        self.log_path = workdir / "uvicorn.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [STAC_PYTHON, "-m", "uvicorn", "stac_fastapi.pgstac.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"stac-fastapi-pgstac exited ({self.proc.returncode}): {self.log_path.read_text()[-2000:]}")
            try:
                r = requests.get(self.url + "/", timeout=2)
                if r.status_code == 200:
                    self.landing = r.json()
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"stac-fastapi-pgstac did not answer in 90 s: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.25)

    def conforms_to_filter(self) -> bool:
        return any(FILTER_CONFORMANCE in c for c in self.landing.get("conformsTo", []))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def filter_api(tmp_path_factory):
    api = StacFastapiPgstac(tmp_path_factory.mktemp("stac-fastapi-filter"))
    yield api
    api.stop()


@pytest.fixture(scope="module")
def plain_api(tmp_path_factory):
    api = StacFastapiPgstac(tmp_path_factory.mktemp("stac-fastapi-plain"), extensions=WITHOUT_FILTER)
    yield api
    api.stop()


class Assets:
    """The items' GeoTIFFs over http on loopback (GET /assets/NAME), each request counted."""

    def __init__(self):
        self.files: dict[str, Path] = {}
        self.gets: list[str] = []

        async def asset(request: Request) -> Response:
            name = request.path_params["name"]
            self.gets.append(name)
            path = self.files.get(name)
            if path is None:
                return JSONResponse({"code": "NotFound"}, status_code=404)
            return FileResponse(path, media_type="image/tiff")

        self.served = Served(app=Starlette(routes=[Route("/assets/{name}", asset)]))

    def href(self, name: str, tif: Path) -> str:
        self.files[name] = tif
        return f"{self.served.url}/assets/{name}"


@pytest.fixture(scope="module")
def assets():
    a = Assets()
    yield a
    a.served.stop()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """The smallbase dates: date -> (tif, footprint geometry, datetime); and 2024-12-12, the
    second date's pixels with one changed (a later image of the same scene)."""
    return smallbase_with_later_copy(tmp_path_factory.mktemp("smallbase-pgstac"))


TIMESTAMP_QUERYABLES = ("updated", "created")


@pytest.fixture
def pgstac():
    """An empty pgstac: no items, no collections; `updated` and `created` queryable as
    timestamps unless the test calls `stock()`. Yields a small helper."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET search_path TO pgstac, public")
        conn.execute("DELETE FROM items")
        conn.execute("DELETE FROM collections")
        helper = Pgstac(conn)
        helper.timestamp_queryables(True)
        yield helper
        helper.timestamp_queryables(True)


class Pgstac:
    def __init__(self, conn):
        self.conn = conn

    def timestamp_queryables(self, on: bool) -> None:
        self.conn.execute("DELETE FROM queryables WHERE name = ANY(%s)", [list(TIMESTAMP_QUERYABLES)])
        if on:
            for name in TIMESTAMP_QUERYABLES:
                self.conn.execute("INSERT INTO queryables (name, definition, property_wrapper) "
                                  "VALUES (%s, '{\"type\": \"string\", \"format\": \"date-time\"}', 'to_tstz')",
                                  [name])

    def count_items(self) -> int:
        return self.conn.execute("SELECT count(*) FROM items").fetchone()[0]


def _now_stamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def create_collection(api: StacFastapiPgstac) -> None:
    body = {"type": "Collection", "id": COLLECTION, "stac_version": "1.0.0", "description": "sitewatch test imagery",
            "license": "proprietary", "links": [],
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}}}
    r = requests.post(f"{api.url}/collections", json=body, timeout=30)
    assert r.status_code in (200, 201), r.text


def publish(api: StacFastapiPgstac, assets: Assets, item_id: str, tif: Path, geometry: dict,
            when: datetime) -> dict:
    """Add an item through the Transactions extension, stamped `created`/`updated` now."""
    from shapely.geometry import shape

    now = _now_stamp()
    item = {"type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": COLLECTION,
            "geometry": geometry, "bbox": list(shape(geometry).bounds),
            "properties": {"datetime": when.isoformat().replace("+00:00", "Z"), "created": now, "updated": now},
            "assets": {"visual": {"href": assets.href(f"{item_id}.tif", tif), "type": "image/tiff; application=geotiff",
                                  "roles": ["data"]}},
            "links": []}
    r = requests.post(f"{api.url}/collections/{COLLECTION}/items", json=item, timeout=30)
    assert r.status_code in (200, 201), r.text
    time.sleep(0.01)  # distinct publication stamps: items are taken oldest publication first
    return item


def _catalog(tmp_path: Path, url: str) -> Path:
    import sitewatch
    from sitewatch.store import add_subscription
    from sitewatch.watch.stac_api import ApiSource

    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("stac-api", ApiSource(url, COLLECTION).to_location())], RULES)
    return db


def _watcher(cat, tmp_path: Path, said: list[str]):
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    return Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0, say=said.append, host_rate=50.0,
                   api_options={"backoff_s": 0.2, "tries": 2})


@pytest.fixture
def modes(monkeypatch):
    """The polling mode of each search the watcher makes (StacApiWatch.search, wrapped) and
    the number of pages it read."""
    from sitewatch.watch import stac_api

    seen: list[tuple[str, int]] = []
    original = stac_api.StacApiWatch.search

    def recording(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        seen.append((result.mode, result.pages))
        return result

    monkeypatch.setattr(stac_api.StacApiWatch, "search", recording)
    return seen


def _source_id(cat) -> int:
    (sub,) = list_subscriptions(cat)
    return sub.sources[0].id


def test_items_added_while_watching_are_taken_once_and_a_restart_takes_nothing(
        filter_api, pgstac, assets, scenes, modes, monkeypatch, tmp_path):
    from sitewatch.watch import stac_api

    assert filter_api.conforms_to_filter()  # the server says it filters, so sitewatch polls on publication
    monkeypatch.setattr(stac_api, "PAGE_LIMIT", 1)  # one item a page: the pass follows pgstac's next links
    create_collection(filter_api)
    db = _catalog(tmp_path, filter_api.url)
    said: list[str] = []
    with open_catalog(db) as cat:
        w = _watcher(cat, tmp_path, said)
        assert w.run_pass().taken == []  # an empty collection
        for item_id, date in (("a-2024-12-05", "2024-12-05"), ("b-2024-12-10", "2024-12-10")):
            tif, geom, when = scenes[date]
            publish(filter_api, assets, item_id, tif, geom, when)
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed", "processed"], (report.failed, said)
        assert modes[-1] == ("published", 2)  # two pages of one item
        alerts = list_alerts(cat)
        assert len(alerts) == 6 and len({a.id for a in alerts}) == 6
        assert {a.image_id for a in alerts} == {report.taken[1].image_id}  # the second date's

        assert w.run_pass().taken == []  # the overlap finds both again; neither is taken twice

        tif, geom, when = scenes["2024-12-12"]
        publish(filter_api, assets, "c-2024-12-12", tif, geom, when)
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        assert "c-2024-12-12" in report.taken[0].path
        assert w.run_pass().taken == []
        assert {m for m, _ in modes} == {"published"}

        assert sorted(assets.gets) == ["a-2024-12-05.tif", "b-2024-12-10.tif", "c-2024-12-12.tif"]  # once each
        assert sorted(i.acquired.date().isoformat() for i in images_for_site(cat, SITE)) == [
            "2024-12-05", "2024-12-10", "2024-12-12"]
        rows = watched_files(cat, _source_id(cat))
        assert sorted(r["path"].split("/items/")[1] for r in rows) == [
            "a-2024-12-05#visual", "b-2024-12-10#visual", "c-2024-12-12#visual"]
        ids = [a.id for a in list_alerts(cat)]
        assert len(ids) == len(set(ids))
        n_alerts = len(ids)

    # A restarted watcher (a new process) reads the stored cursor and takes nothing.
    r = subprocess.run([EXE, "watch", "--once", "--db", str(db), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 image(s) processed" in r.stdout, r.stdout
    assert len(assets.gets) == 3
    with open_catalog(db) as cat:
        assert len(list_alerts(cat)) == n_alerts


@pytest.mark.parametrize("server", ["filter_api", "plain_api"])
def test_paging_through_more_items_than_the_page_limit_drops_and_repeats_none(
        server, request, pgstac, assets, scenes, monkeypatch):
    """25 items, 4 a page: 7 pages of pgstac's next links (token paging), each item found once,
    in either mode."""
    from shapely.geometry import shape

    from sitewatch.watch import stac_api
    from sitewatch.watch.polite import HostRateLimit

    api: StacFastapiPgstac = request.getfixturevalue(server)
    monkeypatch.setattr(stac_api, "PAGE_LIMIT", 4)
    create_collection(api)
    tif, geom, _ = scenes["2024-12-05"]
    now = datetime.now(UTC)
    ids = [f"p{n:02d}" for n in range(25)]
    for n, item_id in enumerate(ids):
        publish(api, assets, item_id, tif, geom, now - timedelta(days=1, minutes=n))
    tif, geom, _ = scenes["2024-12-05"]
    publish(api, assets, "too-old", tif, geom, now - timedelta(days=30))  # outside datetime mode's lookback
    assert pgstac.count_items() == 26
    watch = stac_api.StacApiWatch(stac_api.ApiSource(api.url, COLLECTION), HostRateLimit(50.0), "unused")
    search = watch.search(shape(geom), None, now - timedelta(hours=1))
    found = [f.item_id for f in search.found]
    if server == "filter_api":
        assert search.mode == "published"
        assert sorted(found) == sorted(ids + ["too-old"])  # published within the window, whatever acquired
        assert search.pages == 7  # 26 items, 4 a page
    else:
        assert search.mode == "datetime"
        assert sorted(found) == ids  # acquired in the last 14 days
        assert search.pages == 7  # 25 items, 4 a page
    assert len(found) == len(set(found))
    assert search.problems == []


def test_a_server_without_the_filter_extension_is_watched_by_datetime_and_the_seen_set(
        plain_api, pgstac, assets, scenes, modes, tmp_path):
    """ENABLED_EXTENSIONS without `filter`: the landing page does not conform to the Filter
    extension, and sitewatch searches by acquisition (the last 14 days), skipping what it took."""
    from sitewatch.watch import stac_api
    from sitewatch.watch.polite import HostRateLimit

    assert not plain_api.conforms_to_filter()
    assert stac_api.StacApiWatch(stac_api.ApiSource(plain_api.url, COLLECTION), HostRateLimit(50.0),
                                 "unused").mode() == "datetime"
    create_collection(plain_api)
    db = _catalog(tmp_path, plain_api.url)
    now = datetime.now(UTC).replace(microsecond=0)
    said: list[str] = []
    with open_catalog(db) as cat:
        w = _watcher(cat, tmp_path, said)
        tif, geom, _ = scenes["2024-12-05"]
        publish(plain_api, assets, "d-old", tif, geom, now - timedelta(days=20))  # before the lookback
        publish(plain_api, assets, "d-recent", tif, geom, now - timedelta(days=2))
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        assert "d-recent" in report.taken[0].path
        assert w.run_pass().taken == []
        tif, geom, _ = scenes["2024-12-10"]
        publish(plain_api, assets, "d-later", tif, geom, now - timedelta(days=1))
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        assert "d-later" in report.taken[0].path
        assert w.run_pass().taken == []
        assert modes and {m for m, _ in modes} == {"datetime"}
        assert len(images_for_site(cat, SITE)) == 2
        assert "d-old.tif" not in assets.gets


def test_a_stock_pgstac_without_timestamp_queryables_is_still_watched(filter_api, pgstac, assets, scenes, modes,
                                                                      tmp_path):
    """A filter on `updated` would fail there (500: text compared with a timestamp): the
    queryables do not list it, so the watch searches by datetime (the last two weeks of
    acquisitions) and takes the item."""
    pgstac.timestamp_queryables(False)
    create_collection(filter_api)
    db = _catalog(tmp_path, filter_api.url)
    said: list[str] = []
    with open_catalog(db) as cat:
        w = _watcher(cat, tmp_path, said)
        tif, geom, _ = scenes["2024-12-05"]
        publish(filter_api, assets, "s-2024-12-05", tif, geom, datetime.now(UTC) - timedelta(days=1))
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        assert modes and {m for m, _ in modes} == {"datetime"}
