"""The HTML report opened in headless Chromium (Debian's, driven by Playwright; never a
downloaded browser): every chip and chart renders, no broken image, nothing fetched."""

from __future__ import annotations

import shutil

import pytest
from test_change_pixel import SITE
from test_report import _inputs

from sitewatch.workflow.pipeline import compare_and_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")


def test_every_image_in_the_report_renders_offline(tmp_path):
    looks, pixels = _inputs()
    out = compare_and_report(SITE, looks, tmp_path, pixels)
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.files.html.as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({alt: e.alt, ok: e.complete && e.naturalWidth > 0}))")
        finally:
            browser.close()
    # overview, before and after chips of the departure, the counts chart
    assert len(images) >= 4
    assert all(i["ok"] for i in images), [i["alt"] for i in images if not i["ok"]]
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
