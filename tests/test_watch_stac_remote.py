"""`sitewatch watch` on a static STAC catalog served over http on loopback by the test (a
ThreadingHTTPServer in a thread, serving the simulator's small base: catalog.json, its
collection, one item per date and the GeoTIFFs, with ETags and Last-Modified or without),
which logs every request with its conditional headers and its answer.

Known answers, as in test_watch: the two dates give 6 alerts; a second pass gets 304s and
downloads nothing; an item added to the collection is the only one read and taken; a
restarted watcher reads the stored validators. Without validators, the bodies are compared by
checksum. A 500 or a timeout on one document leaves the stored state, and the next pass takes
what is left. A plain-http catalog off loopback is refused when subscribing."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import rasterio

from sitewatch.errors import InputError
from sitewatch.store import add_subscription, list_alerts, open_catalog, watched_documents, watched_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}
MODIFIED = formatdate(1_700_000_000, usegmt=True)


@dataclass
class Hit:
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int


@dataclass
class Served:
    """Files (URL path: bytes) served with validators (or not), faults and a log."""

    files: dict[str, bytes]
    validators: bool = True
    fail: dict[str, int] = field(default_factory=dict)  # path: how many times to answer 500
    hang: set[str] = field(default_factory=set)  # paths answered only after the client gave up
    log: list[Hit] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        inm, ims = h.headers.get("If-None-Match"), h.headers.get("If-Modified-Since")

        def send(status: int, body: bytes = b"", headers: dict | None = None) -> None:
            with self.lock:
                self.log.append(Hit(path, inm, ims, status))
            h.send_response(status)
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            if body and h.command != "HEAD":
                h.wfile.write(body)

        if path in self.hang:
            self.release.wait(10)  # the client has timed out by then (not logged: no answer)
            return
        if self.fail.get(path, 0) > 0:
            self.fail[path] -= 1
            return send(500, b"down")
        if path not in self.files:
            return send(404, b"no")
        headers = {"Content-Type": "application/json" if path.endswith(".json") else "image/tiff"}
        if self.validators:
            headers |= {"ETag": self.etag(path), "Last-Modified": MODIFIED}
            if inm == self.etag(path):
                return send(304, headers=headers)
        return send(200, self.files[path], headers)

    def hits(self, since: int = 0) -> list[Hit]:
        with self.lock:
            return self.log[since:]


class _Handler(BaseHTTPRequestHandler):
    served: Served

    def do_GET(self) -> None:  # noqa: N802
        self.server.served.answer(self)  # type: ignore[attr-defined]

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.served = None  # type: ignore[attr-defined]
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield httpd
    finally:
        if httpd.served is not None:  # type: ignore[attr-defined]
            httpd.served.release.set()  # type: ignore[attr-defined]
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    import sitewatch

    folder = tmp_path_factory.mktemp("smallbase-remote")
    sitewatch.simulate_scenario(ROOT / "scenarios" / "smallbase.yaml", folder / "scenes")
    scenes = folder / "scenes"
    with rasterio.open(scenes / SITE / "2024-12-10.tif") as src:  # a third date: the second's pixels, one changed
        data, profile = src.read(), src.profile
    data[0, 0, 0] = data[0, 0, 0] ^ 1
    with rasterio.open(scenes / SITE / "2024-12-12.tif", "w", **profile) as dst:
        dst.write(data)
    return scenes


def _files(scenes: Path) -> dict[str, bytes]:
    """The simulator's catalog as served: relative hrefs, as it writes them."""
    out = {}
    for p in sorted(scenes.rglob("*")):
        if p.is_file() and p.suffix in (".json", ".tif"):
            out["/" + p.relative_to(scenes).as_posix()] = p.read_bytes()
    return out


def _add_item(served: Served, absolute_base: str | None = None) -> None:
    """A third date: the second's item as 2024-12-12 (its image served from the start), linked from the
    collection (its body and ETag change); absolute_base: the new link written absolute."""
    item = json.loads(served.files["/smallbase/2024-12-10.stac.json"])
    item["id"] = "smallbase-2024-12-12"
    item["properties"]["datetime"] = "2024-12-12T08:15:00Z"
    item["assets"]["image"]["href"] = "./2024-12-12.tif"
    served.files["/smallbase/2024-12-12.stac.json"] = json.dumps(item).encode()
    coll = json.loads(served.files["/smallbase/collection.json"])
    href = f"{absolute_base}/smallbase/2024-12-12.stac.json" if absolute_base else "./2024-12-12.stac.json"
    coll["links"].append({"rel": "item", "href": href, "type": "application/geo+json"})
    served.files["/smallbase/collection.json"] = json.dumps(coll).encode()


def _serve(server, scenes: Path, **kw) -> tuple[Served, str]:
    served = Served(_files(scenes), **kw)
    server.served = served
    return served, f"http://127.0.0.1:{server.server_address[1]}"


def _subscribed(tmp_path: Path, url: str):
    import sitewatch

    cat = open_catalog(tmp_path / "catalog.db")
    sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
    sub = add_subscription(cat, SITE, [("stac", url)], RULES)
    return cat, sub.sources[0]


def _watcher(cat, tmp_path: Path, said: list[str], **api):
    from sitewatch.detect.model import DetectionModel
    from sitewatch.watch import Watcher

    opts = {"backoff_s": 0.05, "tries": 2, "timeout_s": 5.0} | api
    return Watcher(cat, DetectionModel(), tmp_path / "out", settle_s=0.0, say=said.append, host_rate=50.0,
                   api_options=opts)


def _paths(hits: list[Hit]) -> list[str]:
    return [h.path for h in hits]


def test_a_remote_catalog_is_taken_once_then_read_by_conditional_get_and_a_new_item_taken_once(server, scenes, tmp_path):
    served, base = _serve(server, scenes)
    cat, src = _subscribed(tmp_path, f"{base}/catalog.json")
    said: list[str] = []
    try:
        w = _watcher(cat, tmp_path, said)
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed", "processed"], (report.failed, said)
        assert len(list_alerts(cat)) == 6
        first = served.hits()
        assert sorted(_paths(first)) == ["/catalog.json", "/smallbase/2024-12-05.stac.json",
                                         "/smallbase/2024-12-05.tif", "/smallbase/2024-12-10.stac.json",
                                         "/smallbase/2024-12-10.tif", "/smallbase/collection.json"]
        assert all(h.status == 200 and h.if_none_match is None for h in first)
        docs = watched_documents(cat, src.id)
        assert set(docs) == {f"{base}{p}" for p in _paths(first) if p.endswith(".json")}
        assert docs[f"{base}/catalog.json"].etag == served.etag("/catalog.json")
        assert docs[f"{base}/catalog.json"].children == (f"{base}/smallbase/collection.json",)

        # Nothing changed: the catalog and the collection are asked for conditionally, answered
        # 304, and neither the items nor the images are asked for.
        n = len(served.hits())
        report = w.run_pass()
        assert report.taken == [] and report.failed == []
        again = served.hits(n)
        assert _paths(again) == ["/catalog.json", "/smallbase/collection.json"]
        assert all(h.status == 304 for h in again)
        assert [h.if_none_match for h in again] == [served.etag("/catalog.json"),
                                                    served.etag("/smallbase/collection.json")]
        assert all(h.if_modified_since == MODIFIED for h in again)

        # An item added, linked by an absolute href: the collection changed, the old items answer
        # 304, and only the new item and its image are downloaded; it is taken once.
        _add_item(served, absolute_base=base)
        n = len(served.hits())
        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        hits = served.hits(n)
        assert [(h.path, h.status) for h in hits if h.status == 200] == [
            ("/smallbase/collection.json", 200), ("/smallbase/2024-12-12.stac.json", 200),
            ("/smallbase/2024-12-12.tif", 200)]
        assert sorted(h.path for h in hits if h.status == 304) == [
            "/catalog.json", "/smallbase/2024-12-05.stac.json", "/smallbase/2024-12-10.stac.json"]
        rows = watched_files(cat, src.id)
        assert [r["status"] for r in rows] == ["processed"] * 3
        assert len({r["path"] for r in rows}) == 3

        # A restarted watcher reads the stored validators: 304s, nothing taken.
        n = len(served.hits())
        report = _watcher(cat, tmp_path, said).run_pass()
        assert report.taken == [] and report.failed == []
        assert [h.status for h in served.hits(n)] == [304, 304]
        assert len(watched_files(cat, src.id)) == 3
    finally:
        cat.close()


def test_without_validators_the_bodies_are_compared_by_checksum_and_a_failed_document_is_read_again(
        server, scenes, tmp_path):
    """No ETag nor Last-Modified: each pass gets the catalog and the collection whole (no
    conditional headers), finds them unchanged by their SHA-256 and reads no item. Then the
    collection answers 500 (both tries): nothing is taken or stored; the next pass takes the
    new item once."""
    served, base = _serve(server, scenes, validators=False)
    cat, src = _subscribed(tmp_path, f"{base}/catalog.json")
    said: list[str] = []
    try:
        w = _watcher(cat, tmp_path, said)
        assert [t.status for t in w.run_pass().taken] == ["processed", "processed"], said
        n = len(served.hits())
        report = w.run_pass()
        assert report.taken == [] and report.failed == []
        again = served.hits(n)
        assert [(h.path, h.status, h.if_none_match, h.if_modified_since) for h in again] == [
            ("/catalog.json", 200, None, None), ("/smallbase/collection.json", 200, None, None)]

        stored = watched_documents(cat, src.id)
        _add_item(served)
        served.fail["/smallbase/collection.json"] = 2  # the first try and its retry
        n = len(served.hits())
        report = w.run_pass()
        assert report.taken == [] and len(report.failed) == 1 and "collection.json" in report.failed[0]
        assert [h.status for h in served.hits(n)] == [200, 500, 500]
        assert watched_documents(cat, src.id) == stored  # left where it was

        report = w.run_pass()
        assert [t.status for t in report.taken] == ["processed"], (report.failed, said)
        assert len(watched_files(cat, src.id)) == 3
        assert f"{base}/smallbase/2024-12-12.stac.json" in watched_documents(cat, src.id)
        assert w.run_pass().taken == []
    finally:
        cat.close()


def test_an_item_that_times_out_leaves_its_collection_unstored_and_the_next_pass_takes_it(server, scenes, tmp_path):
    """Walk-level (no pipeline): the second item hangs past the client's timeout; the first
    item's state may be stored, the collection's is not, so the next walk reads the
    collection again (200), skips the stored item (304) and reads the second."""
    from sitewatch.store import save_documents
    from sitewatch.watch.polite import HostRateLimit
    from sitewatch.watch.stac_remote import RemoteCatalogWatch

    served, base = _serve(server, scenes)
    served.hang.add("/smallbase/2024-12-10.stac.json")
    cat, src = _subscribed(tmp_path, f"{base}/catalog.json")
    try:
        watch = RemoteCatalogWatch(f"{base}/catalog.json", HostRateLimit(50.0), tmp_path / "dl", tries=1,
                                   timeout_s=2.0)
        walk = watch.walk({})
        assert [f.version.path for f in walk.found] == [f"{base}/smallbase/2024-12-05.stac.json#image"]
        assert len(walk.problems) == 1 and "2024-12-10.stac.json" in walk.problems[0]
        taken = {f.version.key for f in walk.found}  # as if the first were taken
        stored = walk.storable(taken)
        assert sorted(d.url for d in stored) == [f"{base}/catalog.json", f"{base}/smallbase/2024-12-05.stac.json"]
        save_documents(cat, src.id, stored)

        served.hang.clear()
        served.release.set()  # the hung answer's thread ends
        n = len(served.hits())
        walk = watch.walk(watched_documents(cat, src.id))
        assert walk.problems == []
        assert [f.version.path for f in walk.found] == [f"{base}/smallbase/2024-12-10.stac.json#image"]
        assert [(h.path, h.status) for h in served.hits(n)] == [
            ("/catalog.json", 304), ("/smallbase/collection.json", 200),
            ("/smallbase/2024-12-05.stac.json", 304), ("/smallbase/2024-12-10.stac.json", 200)]
    finally:
        cat.close()


def test_a_plain_http_catalog_off_loopback_is_refused_and_https_or_loopback_accepted(tmp_path):
    from sitewatch.watch.subscribe import subscription_parts

    with pytest.raises(InputError, match="https, except from a loopback"):
        subscription_parts(stacs=["http://catalog.example.org/catalog.json"])
    with pytest.raises(InputError, match="https"):
        subscription_parts(stacs=["ftp://catalog.example.org/catalog.json"])
    for url in ("https://catalog.example.org/catalog.json", "http://127.0.0.1:8000/catalog.json",
                "http://[::1]:8000/catalog.json"):
        sources, _ = subscription_parts(stacs=[url])
        assert sources == [("stac", url)]


def test_the_cli_and_the_rest_api_take_a_catalog_url(tmp_path):
    import subprocess
    import sys

    import sitewatch

    exe = str(Path(sys.executable).with_name("sitewatch"))
    db = tmp_path / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
    ok = subprocess.run([exe, "subscriptions", "add", "--site", SITE, "--stac-catalog",
                         "https://catalog.example.org/stac/catalog.json", "--db", str(db)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([exe, "subscriptions", "add", "--site", SITE, "--stac-catalog",
                          "http://catalog.example.org/catalog.json", "--db", str(db)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "loopback" in (bad.stdout + bad.stderr)
    listed = subprocess.run([exe, "subscriptions", "list", "--json", "--db", str(db)],
                            capture_output=True, text=True, timeout=120)
    (sub,) = json.loads(listed.stdout)
    assert sub["sources"] == [{"kind": "stac", "location": "https://catalog.example.org/stac/catalog.json"}]
