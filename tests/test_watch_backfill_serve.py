"""`sitewatch backfill` (a past period of a STAC API the watch does not look back on, with a
dry run that counts) and `sitewatch serve --watch` (the watcher beside the web server)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("pystac_client")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")


from sitewatch.store import images_for_site, list_alerts, open_catalog  # noqa: E402
from tests.stac_api_server import Served, StacApiState, smallbase_items  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("sitewatch"))
SITE = "smallbase"
RULES = {"kinds": ["departed", "arrived"], "classes": ["air_defence", "aircraft"], "min_confidence": 0.5,
         "posture_change": True}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return smallbase_items(tmp_path_factory.mktemp("smallbase-backfill"))


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def test_a_backfill_takes_the_past_the_watch_does_not_and_its_dry_run_only_counts(scenes, tmp_path):
    import sitewatch

    state = StacApiState(filter_support=True)
    api = Served(state)
    try:
        for day, stamp in (("2024-12-05", "2024-12-06T00:00:00Z"), ("2024-12-10", "2024-12-11T00:00:00Z")):
            tif, geom, when = scenes[day]
            item = state.add_item(f"old-{day}", tif, geom, when)
            item["properties"].update(created=stamp, updated=stamp)  # published long before the subscription
        db, out = tmp_path / "catalog.db", tmp_path / "out"
        with open_catalog(db) as cat:
            sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        r = _cli("subscriptions", "add", "--site", SITE, "--stac-api", api.url, "--collection", "vhr",
                 "--kinds", "departed,arrived", "--classes", "air_defence,aircraft", "--db", str(db))
        assert r.returncode == 0, r.stdout + r.stderr

        r = _cli("watch", "--once", "--db", str(db), "--out", str(out))
        assert r.returncode == 0 and "0 image(s) processed" in r.stdout, r.stdout + r.stderr

        r = _cli("backfill", "--since", "2024-12-01", "--until", "2024-12-31", "--dry-run", "--db", str(db),
                 "--out", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "would process 2 image(s)" in r.stdout and "2 image(s) would be processed" in r.stdout
        with open_catalog(db) as cat:
            assert images_for_site(cat, SITE) == []
        assert not any(p[2].startswith("/assets/") for p in state.log)  # a dry run downloads nothing

        r = _cli("backfill", "--since", "2024-12-08", "--until", "2024-12-31", "--dry-run", "--db", str(db))
        assert "would process 1 image(s)" in r.stdout, r.stdout  # the period bounds the count

        r = _cli("backfill", "--since", "2024-12-01", "--until", "2024-12-31", "--db", str(db), "--out", str(out))
        assert r.returncode == 0, r.stdout + r.stderr
        assert "2 of 2 image(s) processed" in r.stdout
        with open_catalog(db) as cat:
            assert len(images_for_site(cat, SITE)) == 2
            alerts = list_alerts(cat)
            assert len(alerts) == 6 and all(a.delivery == "none" for a in alerts)

        r = _cli("backfill", "--since", "2024-12-01", "--until", "2024-12-31", "--dry-run", "--db", str(db))
        assert "0 image(s) would be processed" in r.stdout, r.stdout
        r = _cli("watch", "--once", "--db", str(db), "--out", str(out))
        assert "0 image(s) processed" in r.stdout, r.stdout
    finally:
        api.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_watch_takes_a_landed_image_while_the_server_answers(scenes, tmp_path):
    import sitewatch
    from sitewatch.store import add_subscription

    data, inbox = tmp_path / "data", tmp_path / "inbox"
    data.mkdir()
    inbox.mkdir()
    db = data / "catalog.db"
    with open_catalog(db) as cat:
        sitewatch.add_sites(cat, ROOT / "scenarios" / "smallbase.yaml")
        add_subscription(cat, SITE, [("folder", str(inbox))], RULES)
    port = _free_port()
    proc = subprocess.Popen([EXE, "serve", "--watch", "--watch-interval", "1", "--port", str(port), "--data", str(data),
                             "--db", str(db)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        tif, _, _ = scenes["2024-12-05"]
        shutil.copyfile(tif, inbox / ".part")
        (inbox / ".part").rename(inbox / tif.name)
        deadline = time.monotonic() + 120
        taken = False
        while time.monotonic() < deadline and not taken:
            time.sleep(1)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            with open_catalog(db) as cat:
                taken = len(images_for_site(cat, SITE)) == 1
        assert taken, "serve --watch did not take the image in 120 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/sites/{SITE}/alerts.atom", timeout=10) as resp:
            assert resp.status == 200 and b"<feed" in resp.read()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert "watch: smallbase: took" in output, output
    assert proc.returncode in (0, 130), output  # uvicorn hands the SIGINT on once it has shut down
