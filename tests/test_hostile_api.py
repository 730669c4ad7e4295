"""API requests a probe sent that used to get a 500 (issue 29): a multipart body with broken
framing (which also reset the keep-alive connection), an image whose TIFF date is in year 1,
and an image in a local (engineering) CRS. Each now gets a problem document naming the
problem, nothing is stored, and the connection goes on serving."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from test_ingest import SITE, SIZE, utm_raster  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from sitewatch.cli.main import app as cli  # noqa: E402
from sitewatch.errors import InputError  # noqa: E402
from sitewatch.geo.synthetic import ground_texture, to_dtype  # noqa: E402
from sitewatch.store import add_site, open_catalog  # noqa: E402
from sitewatch.web import WebSettings, create_app  # noqa: E402

TOKEN = "hostile-api-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUNDARY = "sw-boundary"
MULTIPART = {**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
# Bodies that break multipart framing in different places.
BROKEN_MULTIPART = [
    b"this is not multipart at all",
    b"--sw-boundary\r\nnot a header line\r\n\r\nabc\r\n--sw-boundary--\r\n",
    b"--sw-boundaryXX\r\n",
    b"--sw-boundary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc\r\n--sw-boundary\r\n\x00: x\r\n\r\n",
]
LOCAL_CS = 'LOCAL_CS["plant floor",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    with open_catalog(str(d / "catalog.db")) as cat:
        add_site(cat, SITE)
    return d


def _app(data_dir):
    return create_app(WebSettings(data_dir=data_dir, db=str(data_dir / "catalog.db"), token=TOKEN))


@pytest.fixture
def client(data_dir):
    with TestClient(_app(data_dir), raise_server_exceptions=False) as c:
        yield c


def is_problem(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in r.text
    return r.json()["detail"]


def _stored(client) -> tuple[int, list[str]]:
    uploads = client.app.state.settings.uploads_dir
    files = sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []
    return len(client.get(f"/api/sites/{SITE.name}/images").json()), files


def local_cs_raster(path) -> str:
    data = np.stack([to_dtype(ground_texture(SIZE, SIZE, seed=5), "uint8")] * 3)
    with rasterio.open(path, "w", driver="GTiff", width=SIZE, height=SIZE, count=3, dtype="uint8", crs=LOCAL_CS,
                       transform=Affine(1, 0, 1000, 0, -1, 2000)) as ds:
        ds.write(data)
        ds.update_tags(TIFFTAG_DATETIME="2024:12:09 08:31:00")
    return str(path)


@pytest.mark.parametrize("body", BROKEN_MULTIPART, ids=["no-framing", "bad-part-header", "bad-boundary", "binary-header"])
def test_a_malformed_multipart_body_is_a_400_and_leaves_nothing(client, body):
    detail = is_problem(client.post("/api/uploads", content=body, headers=MULTIPART), 400)
    assert "multipart" in detail
    assert _stored(client) == (0, [])


@pytest.mark.parametrize("stamp", ["0001:01:01 00:00:00", "0001:01:01 00:00:00+01:00", "2999:01:01 00:00:00"])
def test_an_upload_dated_year_1_or_far_ahead_is_refused_naming_the_tag(client, tmp_path, stamp):
    tif = utm_raster(tmp_path / "odd.tif", tags={"TIFFTAG_DATETIME": stamp})
    detail = is_problem(client.post("/api/uploads", content=open(tif, "rb").read(), headers=AUTH), 422)
    assert "TIFFTAG_DATETIME" in detail and "acquired" in detail, detail
    assert _stored(client) == (0, [])


def test_an_implausible_tag_gives_way_to_the_acquired_parameter(client, tmp_path):
    tif = utm_raster(tmp_path / "odd.tif", tags={"TIFFTAG_DATETIME": "0001:01:01 00:00:00"})
    r = client.post("/api/uploads", params={"acquired": "2024-12-20T09:00:00Z"}, content=open(tif, "rb").read(),
                    headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["image"]["date"] == "2024-12-20"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "1900-01-01T00:00:00Z"])
def test_an_implausible_acquired_parameter_is_a_422_before_the_body_is_kept(client, tmp_path, when):
    tif = utm_raster(tmp_path / "a.tif")
    detail = is_problem(client.post("/api/uploads", params={"acquired": when}, content=open(tif, "rb").read(),
                                    headers=AUTH), 422)
    assert detail.startswith("acquired: not a plausible acquisition time"), detail
    assert _stored(client) == (0, [])


def test_an_upload_in_a_local_crs_is_refused_naming_the_crs(client, tmp_path):
    tif = local_cs_raster(tmp_path / "local.tif")
    detail = is_problem(client.post("/api/uploads", content=open(tif, "rb").read(), headers=AUTH), 422)
    assert "plant floor" in detail and "neither projected nor geographic" in detail, detail
    assert _stored(client) == (0, [])


def test_cli_ingest_of_a_local_crs_or_year_1_image_is_one_line_each(data_dir, tmp_path):
    local = local_cs_raster(tmp_path / "local.tif")
    old = utm_raster(tmp_path / "old.tif", tags={"TIFFTAG_DATETIME": "0001:01:01 00:00:00"})
    r = CliRunner().invoke(cli, ["ingest", local, old, "--db", str(data_dir / "catalog.db")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    errors = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2, r.output
    assert local in errors[0] and "neither projected nor geographic" in errors[0]
    assert old in errors[1] and "TIFFTAG_DATETIME" in errors[1] and "before 1960" in errors[1]


def test_cli_ingest_refuses_an_implausible_datetime_option(data_dir, tmp_path):
    tif = utm_raster(tmp_path / "a.tif", tags={})
    r = CliRunner().invoke(cli, ["ingest", tif, "--datetime", "0001-01-01", "--db", str(data_dir / "catalog.db")])
    assert r.exit_code == 1 and isinstance(r.exception, InputError)
    assert str(r.exception).startswith("--datetime: not a plausible acquisition time: 0001-01-01")


# --- on a real server: the connection survives a refused request ----------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(config: uvicorn.Config):
    """Run uvicorn with `config` in a thread until the test is done; yields its port."""
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield config.port
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def server(data_dir):
    yield from _serving(uvicorn.Config(_app(data_dir), host="127.0.0.1", port=_free_port(), log_level="critical"))


def test_after_a_malformed_multipart_body_the_keep_alive_connection_still_serves(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    sock_ids = []
    for body in BROKEN_MULTIPART:
        conn.request("POST", "/api/uploads", body=body, headers=MULTIPART)
        r = conn.getresponse()
        assert r.status == 400 and r.getheader("content-type").startswith("application/problem+json")
        r.read()
        assert r.getheader("connection") != "close"
        sock_ids.append(id(conn.sock))
        conn.request("GET", "/api/sites")
        ok = conn.getresponse()
        assert ok.status == 200 and SITE.name in ok.read().decode()
        sock_ids.append(id(conn.sock))
    assert len(set(sock_ids)) == 1, "the server closed the connection"
    conn.close()


# --- the documented error content type ----------------------------------------------------------

def test_errors_are_declared_as_the_problem_json_they_are_sent_as(client):
    doc = client.get("/api/openapi.json").json()
    declared = {(path, method, status): set(r.get("content", {}))
                for path, ops in doc["paths"].items() for method, op in ops.items()
                for status, r in op["responses"].items() if status[0] in "45"}
    assert declared and all(types == {"application/problem+json"} for types in declared.values() if types), declared
    for (path, method, status), r in ((("/api/sites/{site}", "get", "404"), client.get("/api/sites/nowhere")),
                                      (("/api/uploads", "post", "401"), client.post("/api/uploads", content=b"x"))):
        assert declared[path, method, status] == {"application/problem+json"}
        assert r.status_code == int(status) and r.headers["content-type"] == "application/problem+json"


# --- slow clients: `serve`'s uvicorn settings -------------------------------------------------------

@pytest.fixture
def guarded_server(data_dir):
    from sitewatch.web.server import server_config

    config = server_config(_app(data_dir), "127.0.0.1", _free_port(), header_timeout=1.0, keep_alive=1)
    config.log_level = "critical"
    yield from _serving(config)


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Send trickle a byte every 0.2 s; the time until the server closes the connection, or None."""
    start = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - start
        if sent < len(trickle):
            try:
                sock.sendall(trickle[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
            sent += 1
    return None


def test_a_client_that_sends_nothing_is_let_go(guarded_server):
    with socket.create_connection(("127.0.0.1", guarded_server)) as sock:
        took = _closed_within(sock, 6)
    assert took is not None and took < 4, took


def test_headers_trickled_a_byte_at_a_time_are_cut_off(guarded_server):
    with socket.create_connection(("127.0.0.1", guarded_server)) as sock:
        took = _closed_within(sock, 8, b"GET /api/sites HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200)
    assert took is not None and took < 4, took


def test_a_prompt_client_is_served_and_an_idle_one_closed_after_the_keep_alive(guarded_server):
    conn = http.client.HTTPConnection("127.0.0.1", guarded_server, timeout=10)
    for _ in range(2):
        conn.request("GET", "/api/sites")
        r = conn.getresponse()
        assert r.status == 200 and SITE.name in r.read().decode()
    took = _closed_within(conn.sock, 6)
    assert took is not None and took < 4, took
    conn.close()


def test_oversized_headers_are_refused(guarded_server):
    """h11 refuses a request head once more than MAX_HEADER_BYTES of it wait incomplete: a
    head of 1 MiB never reaches the app."""
    conn = http.client.HTTPConnection("127.0.0.1", guarded_server, timeout=10)
    conn.request("GET", "/api/sites", headers={"X-Big": "a" * (1024 * 1024)})
    try:
        status = conn.getresponse().status
    except (ConnectionResetError, http.client.RemoteDisconnected):
        status = None  # closed without an answer: refused all the same
    assert status in (None, 400, 431)
    conn.close()
