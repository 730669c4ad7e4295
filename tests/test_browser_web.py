"""The analyst's page in headless Chromium (Debian's package, driven by Playwright through
executable_path; Playwright never downloads a browser here) on the demo data (the bundled
Khmeimim scenario after `sitewatch demo`, with the shipped detector): it loads
without console errors, the swipe shows one date on each side of the divider, clicking an
event zooms to it, and Confirm survives a reload. A screenshot is kept as an artifact
(under $SITEWATCH_TEST_ARTIFACTS when set, else the pytest tmp dir)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'sitewatch[web-test]')")
uvicorn = pytest.importorskip("uvicorn")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from sitewatch.detect.model import DEFAULT_MODEL  # noqa: E402
from sitewatch.web import WebSettings, create_app  # noqa: E402

if not DEFAULT_MODEL.exists():
    pytest.skip("no shipped detector: the demo stops before detection", allow_module_level=True)

SITE = "khmeimim"

pytestmark = pytest.mark.slow

TOKEN = "browser-test-token"
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
VIEW = {"width": 1280, "height": 800}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_run):
    demo, done = demo_run
    assert done.returncode == 0, done.stderr[-2000:]
    # a private copy of the demo's catalog and reports (the tests write verdicts and reassess);
    # the imagery is only read, so it stays where the demo wrote it
    folder = tmp_path_factory.mktemp("browser-demo")
    shutil.copy(demo / "catalog.db", folder / "catalog.db")
    shutil.copytree(demo / "reports", folder / "reports")
    app = create_app(WebSettings(data_dir=folder, db=str(folder / "catalog.db"), token=TOKEN))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(viewport=VIEW)
    pg = ctx.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # A request the page itself cancels by navigating (reload while a fetch is in flight)
    # fails with net::ERR_ABORTED; that is not a fault of the app. Any other failure is.
    pg.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
          if "ERR_ABORTED" not in (r.failure or "") else None)
    pg.problems = problems
    yield pg
    ctx.close()


def open_site(page, server) -> None:
    page.goto(f"{server}/#site={SITE}")
    page.wait_for_selector(f"body[data-ready='{SITE}']", timeout=30_000)
    page.wait_for_load_state("networkidle")


def artifacts_dir(tmp_path_factory) -> Path:
    env = os.environ.get("SITEWATCH_TEST_ARTIFACTS")
    d = Path(env) if env else tmp_path_factory.mktemp("artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_page_loads_without_console_errors(page, server, tmp_path_factory):
    open_site(page, server)
    assert page.locator("#events li[data-event]").count() > 0
    assert page.locator("#chart svg polyline").count() > 0
    assert "withdrawal" in page.locator("#assessment-body").inner_text().lower() or \
        page.locator("#assessment-body .headline").count() == 1
    assert page.locator(".leaflet-afterBoxes-pane path").count() > 0  # detections drawn as boxes
    shot = artifacts_dir(tmp_path_factory) / "site-view.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # a real render of tiles and panels, not a blank page
    assert page.problems == []


TILE_SIDE = """([x, y]) => {
  const img = document.elementsFromPoint(x, y).find(e => e.tagName === 'IMG' && e.classList.contains('leaflet-tile'));
  if (!img) return null;
  return img.closest('.leaflet-pane').className.includes('afterTiles') ? 'after' : 'before';
}"""


def test_swipe_moves_the_divide_between_dates(page, server):
    open_site(page, server)
    # Leaflet makes tiles transparent to the pointer; let hit testing see them, so that
    # elementsFromPoint answers which date's tile is visible (hit testing honours clip-path).
    page.add_style_tag(content=".leaflet-tile, .leaflet-tile-container { pointer-events: auto !important; }")
    box = page.locator("#map").bounding_box()
    local = [box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5]  # left of the middle
    assert page.evaluate(TILE_SIDE, local) == "before"  # divider at 50%: the before date shows here
    page.evaluate("v => { const s = document.getElementById('swipe'); s.value = v;"
                  " s.dispatchEvent(new Event('input')); }", "25")
    assert page.evaluate(TILE_SIDE, local) == "after"  # divider at 25%: now the after date shows
    divider = page.locator("#divider").bounding_box()
    assert abs(divider["x"] + 1 - (box["x"] + box["width"] * 0.25)) < 2  # the line follows the slider
    assert page.problems == []


def test_clicking_an_event_zooms_to_it(page, server):
    open_site(page, server)
    zoom_before = page.evaluate("window.sitewatchMap.getZoom()")
    row = page.locator("#events li[data-event]").first
    event_id = row.get_attribute("data-event")
    row.locator(".what").click()
    page.wait_for_timeout(800)  # the fitBounds animation
    assert "selected" in row.get_attribute("class")
    bounds = page.evaluate(f"fetch('/api/sites/{SITE}/events').then(r => r.json())"
                           f".then(es => es.find(e => e.id === '{event_id}').bounds_lonlat)")
    centre = page.evaluate("(() => { const c = window.sitewatchMap.getCenter(); return [c.lng, c.lat]; })()")
    assert bounds[0] <= centre[0] <= bounds[2] and bounds[1] <= centre[1] <= bounds[3]
    assert page.evaluate("window.sitewatchMap.getZoom()") > zoom_before
    assert page.locator(".leaflet-highlight-pane path").count() >= 1
    assert page.problems == []


def test_confirm_persists_across_reload(page, server):
    open_site(page, server)
    row = page.locator("#events li[data-event]").nth(1)
    event_id = row.get_attribute("data-event")
    row.locator("button[data-verdict='confirmed']").click()
    assert "Enter the write token" in page.locator("#status").inner_text()  # no token yet: nothing sent
    page.fill("#token", TOKEN)
    row.locator("button[data-verdict='confirmed']").click()
    page.wait_for_selector(f"#events li[data-event='{event_id}'] .verdict.confirmed")
    page.reload()
    page.wait_for_selector(f"body[data-ready='{SITE}']")
    badge = page.locator(f"#events li[data-event='{event_id}'] .verdict")
    assert badge.inner_text() == "confirmed"
    assert "1 confirmed" in page.locator("#assessment-body").inner_text()
    # reprocessing from the page (a reassessment job) keeps the verdict
    page.click("#reassess")
    # (expect polls from Python: the page's CSP forbids the eval that wait_for_function needs)
    expect(page.locator("#status")).to_have_text(re.compile("^Reassessed"),
                                                 timeout=120_000)  # ~10 s on a loaded 2-core box
    assert "1 verdict(s) kept" in page.locator("#status").inner_text()
    kept = page.locator("#events li[data-event] .verdict.confirmed")
    assert kept.count() == 1
    assert page.problems == []


def test_hover_and_click_on_a_box(page, server):
    open_site(page, server)
    middle = page.locator("#map").bounding_box()
    boxes = page.locator(".leaflet-afterBoxes-pane path.leaflet-interactive")
    target = None
    for k in range(boxes.count()):  # a box right of the divider, where the after date shows
        b = boxes.nth(k).bounding_box()
        if b and b["x"] > middle["x"] + middle["width"] / 2 + 5:
            target = b
            break
    assert target is not None
    page.mouse.move(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    tip = page.locator(".leaflet-tooltip")
    tip.wait_for(timeout=5_000)
    text = tip.inner_text()
    assert "score 0." in text and "\u00b7" in text and any(c in text for c in ("aircraft", "vehicle", "helicopter"))
    # clicking the box follows its item: the track panel lists the dates it was seen on
    page.mouse.click(target["x"] + target["width"] / 2, target["y"] + target["height"] / 2)
    items = page.locator("#track li")
    items.first.wait_for(timeout=5_000)
    dates = [t.split(":")[0] for t in items.all_inner_texts()]
    after_date = page.locator("#after-label").inner_text()
    assert dates == sorted(dates) and after_date in dates  # the after date's box is in its own track
    assert page.locator(".leaflet-highlight-pane path").count() == len(dates)
    assert page.problems == []


def test_reject_shows_the_restated_assessment(page, server):
    open_site(page, server)
    page.fill("#token", TOKEN)
    row = page.locator("#events li[data-event]").first
    event_id = row.get_attribute("data-event")
    row.locator("button[data-verdict='rejected']").click()
    page.wait_for_selector(f"#events li[data-event='{event_id}'] .verdict.rejected")
    reviewed = page.locator("#assessment .reviewed")
    reviewed.wait_for(timeout=10_000)
    assert "Without the 1 rejected event" in reviewed.inner_text()
    assert page.problems == []
