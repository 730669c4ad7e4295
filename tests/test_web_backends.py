"""The web app over each catalog back end (SQLite, and PostgreSQL when
SITEWATCH_TEST_PG_URL names a server): the sample site's figures, a verdict, and a
reprocessing job that keeps it."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from sitewatch.web import WebSettings, create_app  # noqa: E402
from sitewatch.web.sample import DATES, SITE, expected_counts  # noqa: E402

TOKEN = "backend-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_app_on_each_backend(catalog_url, tmp_path):
    from sitewatch.web.sample import build_sample

    build_sample(tmp_path, db=catalog_url)
    app = create_app(WebSettings(data_dir=tmp_path, db=catalog_url, token=TOKEN))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert [s["name"] for s in c.get("/api/sites").json()] == [SITE]
        counts = c.get(f"/api/sites/{SITE}/counts").json()["dates"]
        assert [row["counts"] for row in counts] == [expected_counts(k) for k in range(len(DATES))]
        evs = c.get(f"/api/sites/{SITE}/events").json()
        target = next(e for e in evs if e["kind"] == "state_changed")
        assert c.post(f"/api/events/{target['id']}/verdict", json={"verdict": "rejected"}, headers=AUTH).status_code == 200
        job = c.post(f"/api/sites/{SITE}/jobs", json={"align": False, "detect": False}, headers=AUTH).json()
        deadline = time.monotonic() + 120  # a reassessment of the sample takes ~10 s on a loaded 2-core box
        while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = c.get(f"/api/jobs/{job['id']}").json()
        assert job["status"] == "done", job
        rejected = [e for e in c.get(f"/api/sites/{SITE}/events").json()
                    if e["verdict"] and e["verdict"]["verdict"] == "rejected"]
        assert [(e["kind"], e["type"]) for e in rejected] == [(target["kind"], target["type"])]
        assert c.get(f"/api/sites/{SITE}/assessment").json()["review"]["counts"]["rejected"] == 1
