"""A small but real STAC API for the tests, served by uvicorn on loopback.

Written for these tests (not stac-fastapi: pgstac would need a PostgreSQL with its extension
in every run). It speaks enough of STAC API 1.0 for pystac-client: a landing page with
`conformsTo`, /conformance, /collections, /queryables (API and per collection, where the
Filter extension is on; which properties they list is `queryables`), item search by GET and POST (collections, bbox or
intersects, datetime intervals, `limit`, and, when `filter_support` is on, CQL2-JSON filters
with and/or and comparisons on properties), offset paging through `next` links (POST links
carry the body with the next token), and the assets' bytes under /assets/NAME. Results are
newest `datetime` first, so an item added while a client pages shifts the later pages: the
last item of one page comes again at the top of the next, as on many real servers.

Faults, each once: `fail_page` (a search page answered 500 the first time it is asked for),
`throttle_first` (the first search answered 429 with a Retry-After). `on_page` is called
with each page number served, so a test can add items in the middle of a search. Every
request is logged with its time and status.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from shapely.geometry import box, shape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

STAC_VERSION = "1.0.0"
CORE = ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/collections", "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"]
FILTER = ["https://api.stacspec.org/v1.0.0/item-search#filter",
          "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
          "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
          "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2"]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _interval(value) -> tuple[datetime | None, datetime | None]:
    if isinstance(value, (list, tuple)):
        parts = [None if v in (None, "..", "") else str(v) for v in value]
    else:
        text = str(value)
        parts = [None if p in ("..", "") else p for p in text.split("/")] if "/" in text else [text, text]
    lo, hi = (parts + [None, None])[:2]
    return (_when(lo) if lo else None, _when(hi) if hi else None)


def _operand(arg, item: dict):
    if isinstance(arg, dict) and "property" in arg:
        name = arg["property"]
        value = item["properties"].get(name) if name != "id" else item["id"]
        return _when(value) if isinstance(value, str) and name in ("datetime", "updated", "created") else value
    if isinstance(arg, dict) and "timestamp" in arg:
        return _when(arg["timestamp"])
    return arg


def cql2(expr: dict, item: dict) -> bool:
    """The CQL2-JSON subset these tests need: and, or, not, =, <>, <, <=, >, >= (a missing
    property compares false, as in SQL)."""
    op, args = expr["op"], expr.get("args", [])
    if op == "and":
        return all(cql2(a, item) for a in args)
    if op == "or":
        return any(cql2(a, item) for a in args)
    if op == "not":
        return not cql2(args[0], item)
    a, b = (_operand(x, item) for x in args)
    if a is None or b is None:
        return False
    return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


@dataclass
class StacApiState:
    filter_support: bool = True
    # Properties the queryables list (where filter_support is on): those a filter may name.
    queryables: tuple[str, ...] = ("datetime", "updated", "created")
    page_cap: int = 100  # the most items a page holds, whatever the client asks
    fail_page: int | None = None  # this page number (1-based) answers 500 once
    throttle_first: float | None = None  # the first search answers 429 with this Retry-After
    on_page: object = None  # callable(page_number), called once a page is cut
    items: dict[str, dict] = field(default_factory=dict)
    assets: dict[str, Path] = field(default_factory=dict)
    log: list[tuple[float, str, str, int]] = field(default_factory=list)  # (monotonic start, method, path, status)
    failed_pages: set[int] = field(default_factory=set)
    throttled: bool = False
    base: str = ""

    def add_item(self, item_id: str, tif: Path, geometry: dict, when: datetime, collection: str = "vhr",
                 properties: dict | None = None) -> dict:
        """Publish an item now: its asset served from /assets/, `created`/`updated` stamped now."""
        name = f"{item_id}.tif"
        self.assets[name] = tif
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        props = {"datetime": when.isoformat().replace("+00:00", "Z"), "created": now, "updated": now,
                 **(properties or {})}
        item = {"type": "Feature", "stac_version": STAC_VERSION, "id": item_id, "collection": collection,
                "geometry": geometry, "bbox": list(shape(geometry).bounds), "properties": props,
                "assets": {"visual": {"href": f"{self.base}/assets/{name}", "type": "image/tiff; application=geotiff",
                                      "roles": ["data"]}},
                "links": [{"rel": "collection", "href": f"{self.base}/collections/{collection}"},
                          {"rel": "self", "href": f"{self.base}/collections/{collection}/items/{item_id}"}]}
        self.items[item_id] = item
        return item


def make_app(state: StacApiState) -> Starlette:
    def conforms() -> list[str]:
        return CORE + (FILTER if state.filter_support else [])

    async def landing(request: Request) -> Response:
        b = state.base
        return JSONResponse({"type": "Catalog", "id": "test-stac-api", "stac_version": STAC_VERSION,
                             "description": "sitewatch's test STAC API", "conformsTo": conforms(),
                             "links": [{"rel": "self", "href": f"{b}/", "type": "application/json"},
                                       {"rel": "root", "href": f"{b}/", "type": "application/json"},
                                       {"rel": "conformance", "href": f"{b}/conformance"},
                                       {"rel": "data", "href": f"{b}/collections"},
                                       {"rel": "search", "href": f"{b}/search", "method": "GET",
                                        "type": "application/geo+json"},
                                       {"rel": "search", "href": f"{b}/search", "method": "POST",
                                        "type": "application/geo+json"}]})

    async def conformance(request: Request) -> Response:
        return JSONResponse({"conformsTo": conforms()})

    def collection_json(cid: str) -> dict:
        return {"type": "Collection", "id": cid, "stac_version": STAC_VERSION, "description": cid,
                "license": "proprietary", "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]},
                                                     "temporal": {"interval": [[None, None]]}},
                "links": [{"rel": "self", "href": f"{state.base}/collections/{cid}"}]}

    async def collections(request: Request) -> Response:
        ids = sorted({i["collection"] for i in state.items.values()} or {"vhr"})
        return JSONResponse({"collections": [collection_json(c) for c in ids], "links": []})

    async def collection(request: Request) -> Response:
        return JSONResponse(collection_json(request.path_params["cid"]))

    async def queryables(request: Request) -> Response:
        if not state.filter_support:
            return JSONResponse({"code": "NotFound", "description": "no queryables"}, status_code=404)
        return JSONResponse({"$schema": "https://json-schema.org/draft/2019-09/schema",
                             "$id": f"{state.base}{request.url.path}", "type": "object",
                             "properties": {q: {"type": "string", "format": "date-time"} for q in state.queryables},
                             "additionalProperties": True})

    async def search(request: Request) -> Response:
        if request.method == "POST":
            body = json.loads(await request.body() or b"{}")
        else:
            q = request.query_params
            body = {k: q[k] for k in q}
            for k in ("collections", "bbox"):
                if k in body:
                    body[k] = body[k].split(",")
            for k in ("intersects", "filter"):
                if k in body:
                    body[k] = json.loads(body[k])
        if state.throttle_first is not None and not state.throttled:
            state.throttled = True
            return JSONResponse({"code": "TooManyRequests"}, status_code=429,
                                headers={"retry-after": f"{state.throttle_first:g}"})
        offset = int(body.get("token") or 0)
        page_no = offset // max(1, state.page_cap) + 1
        if state.fail_page == page_no and page_no not in state.failed_pages:
            state.failed_pages.add(page_no)
            return JSONResponse({"code": "InternalServerError", "description": "simulated failure"}, status_code=500)
        if "filter" in body and not state.filter_support:
            return JSONResponse({"code": "BadRequest", "description": "filter not supported"}, status_code=400)
        limit = min(int(body.get("limit") or 10), state.page_cap)
        matches = []
        cols = body.get("collections")
        area = shape(body["intersects"]) if body.get("intersects") else (
            box(*map(float, body["bbox"])) if body.get("bbox") else None)
        lo, hi = _interval(body["datetime"]) if body.get("datetime") else (None, None)
        for item in state.items.values():
            if cols and item["collection"] not in cols:
                continue
            if area is not None and not shape(item["geometry"]).intersects(area):
                continue
            when = _when(item["properties"]["datetime"])
            if (lo and when < lo) or (hi and when > hi):
                continue
            if body.get("filter") and not cql2(body["filter"], item):
                continue
            matches.append(item)
        matches.sort(key=lambda i: (i["properties"]["datetime"], i["id"]), reverse=True)
        page = matches[offset: offset + limit]
        if callable(state.on_page):
            state.on_page(page_no)  # after the page is cut: what it adds shows from the next page on
        links = [{"rel": "root", "href": f"{state.base}/"}]
        if offset + limit < len(matches):
            nxt = {k: v for k, v in body.items() if k != "token"}
            nxt["token"] = str(offset + limit)
            if request.method == "POST":
                links.append({"rel": "next", "href": f"{state.base}/search", "method": "POST", "body": nxt,
                              "merge": False, "type": "application/geo+json"})
            else:
                from urllib.parse import urlencode

                flat = {k: (json.dumps(v) if isinstance(v, dict) else ",".join(map(str, v)) if isinstance(v, list)
                            else v) for k, v in nxt.items()}
                links.append({"rel": "next", "href": f"{state.base}/search?{urlencode(flat)}", "method": "GET"})
        return JSONResponse({"type": "FeatureCollection", "features": page, "links": links,
                             "numberMatched": len(matches), "numberReturned": len(page)},
                            media_type="application/geo+json")

    async def asset(request: Request) -> Response:
        path = state.assets.get(request.path_params["name"])
        if path is None or not path.exists():
            return JSONResponse({"code": "NotFound"}, status_code=404)
        return FileResponse(path, media_type="image/tiff")

    app = Starlette(routes=[Route("/", landing), Route("/conformance", conformance),
                            Route("/collections", collections), Route("/collections/{cid}", collection),
                            Route("/queryables", queryables), Route("/collections/{cid}/queryables", queryables),
                            Route("/search", search, methods=["GET", "POST"]),
                            Route("/assets/{name}", asset)])

    async def logged(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        status = {"code": 0}
        started = time.monotonic()

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await app(scope, receive, send_logged)
        state.log.append((started, scope["method"], scope["path"], status["code"]))

    return logged  # type: ignore[return-value]


class Served:
    """The API (or another ASGI app: `app`) on a free loopback port, in a thread, until `stop`."""

    def __init__(self, state: StacApiState | None = None, app=None):
        self.state = state
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        if state is not None:
            state.base = self.url
            app = make_app(state)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.server.started, "the test STAC API did not start"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def smallbase_items(folder: Path) -> dict:
    """The bundled smallbase scenario rendered into `folder`/scenes: date -> (its GeoTIFF,
    its footprint geometry, its datetime), the items a test serves from the STAC API."""
    import pystac

    import sitewatch

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "smallbase.yaml"
    sitewatch.simulate_scenario(scenario, folder / "scenes")
    out = {}
    for item in pystac.read_file(str(folder / "scenes" / "catalog.json")).get_items(recursive=True):
        (asset,) = [a for a in item.assets.values() if a.href.endswith(".tif")]
        out[item.datetime.date().isoformat()] = (Path(asset.get_absolute_href()), item.geometry, item.datetime)
    return out


def smallbase_with_later_copy(folder: Path) -> dict:
    """`smallbase_items`, and 2024-12-12: the second date's pixels with one changed, so a new
    file of a later date showing the same scene."""
    import rasterio

    out = smallbase_items(folder)
    tif, geom, when = out["2024-12-10"]
    copy = folder / "2024-12-12.tif"
    with rasterio.open(tif) as src:
        data, profile = src.read(), src.profile
    data[0, 0, 0] = data[0, 0, 0] ^ 1
    with rasterio.open(copy, "w", **profile) as dst:
        dst.write(data)
    out["2024-12-12"] = (copy, geom, when + timedelta(days=2))
    return out
