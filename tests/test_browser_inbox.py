"""The alerts inbox in headless Chromium (Debian's package, driven by Playwright, as in
test_browser_web), on the web sample with two alerts: both are listed, Acknowledge with the
token takes one off the "not acknowledged" list, and the event alert's link opens the
analyst page on that event, selected; no console errors on either page."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install 'sitewatch[web-test]')")
pytest.importorskip("uvicorn")

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from test_web_api import TOKEN  # noqa: E402
from test_web_watch import _alerts  # noqa: E402

from sitewatch.web import WebSettings, create_app  # noqa: E402
from sitewatch.web.sample import SITE  # noqa: E402
from tests.stac_api_server import Served  # noqa: E402

pytestmark = pytest.mark.slow


def test_the_inbox_acknowledges_and_links_to_the_event_review(tmp_path_factory, tmp_path):
    from sitewatch.web.sample import sample_cache, sample_copy

    data = tmp_path / "data"
    sample_copy(sample_cache(tmp_path_factory.getbasetemp() / "web-sample-cache"), data)
    _, event_id = _alerts(data)
    server = Served(app=create_app(WebSettings(data_dir=data, db=str(data / "catalog.db"), token=TOKEN)))
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--headless", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{server.url}/alerts")
            page.wait_for_selector("body[data-ready='alerts']", timeout=30_000)
            rows = page.locator("#alerts li[data-alert]")
            expect(rows).to_have_count(2)
            page.fill("#token", TOKEN)
            page.locator("#alerts li[data-alert='alert_p1'] button[data-action='acknowledge']").click()
            expect(rows).to_have_count(1)  # acknowledged: off the "not acknowledged only" list
            expect(rows.first).to_have_attribute("data-alert", "alert_e1")
            page.uncheck("#unacked")
            expect(rows).to_have_count(2)
            expect(page.locator("#alerts li.acknowledged")).to_have_attribute("data-alert", "alert_p1")
            page.locator("#alerts li[data-alert='alert_e1'] a.what").click()
            page.wait_for_selector(f"body[data-ready='{SITE}']", timeout=30_000)
            expect(page.locator(f"#events li[data-event='{event_id}']")).to_have_class("selected")
            browser.close()
    finally:
        server.stop()
    assert problems == []
