"""Bad input to the catalog-driven stages: unknown site, dates not aligned, one date only.
Each gets a clear message, and nothing half-written is left behind."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_change_pixel import GRID, SITE, _scene

from sitewatch.errors import CatalogError
from sitewatch.simulate.writer import write_cog
from sitewatch.store import add_site, open_catalog
from sitewatch.workflow.ingest import ingest
from sitewatch.workflow.pipeline import run_site

EXE = str(Path(sys.executable).with_name("sitewatch"))


def _catalog(tmp_path, n_dates: int):
    db = tmp_path / "catalog.db"
    paths = []
    for i in range(n_dates):
        p = tmp_path / "img" / f"2024-12-{5 + 5 * i:02d}.tif"
        p.parent.mkdir(exist_ok=True)
        write_cog(p, _scene(135, 50, 0.1 * i, (1, 1, 1), (0, 0), seed=i), GRID,
                  datetime(2024, 12, 5 + 5 * i, 8, 30, tzinfo=UTC))
        paths.append(str(p))
    with open_catalog(str(db)) as cat:
        add_site(cat, SITE)
        outcomes = ingest(cat, paths)
        assert all(o.status == "added" for o in outcomes), [o.message for o in outcomes]
    return db


def test_unknown_site_is_one_clear_line_and_writes_nothing(tmp_path):
    db = _catalog(tmp_path, 2)
    out = tmp_path / "report"
    r = subprocess.run([EXE, "report", "--site", "nowhere", "--db", str(db), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "no site named 'nowhere'" in r.stderr and "painted" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_dates_not_aligned_say_so_and_write_nothing(tmp_path):
    db = _catalog(tmp_path, 2)
    out = tmp_path / "report"
    with open_catalog(str(db)) as cat, pytest.raises(CatalogError, match="not aligned yet; run `sitewatch align"):
        run_site(cat, "painted", out, align=False, detect=False)
    assert not out.exists() or not any(out.iterdir())


def test_one_date_only_reports_insufficient_evidence_with_the_reason(tmp_path):
    db = _catalog(tmp_path, 1)
    out = tmp_path / "report"
    with open_catalog(str(db)) as cat:
        o = run_site(cat, "painted", out, align=True, detect=False)
    a = o.judgement.assessment
    assert a.posture == "insufficient_evidence"
    assert "only one usable image" in a.headline
    assert (out / "painted.html").exists()


def test_compare_and_assess_commands_print_json_for_an_aligned_site(tmp_path):
    import json

    db = _catalog(tmp_path, 2)
    with open_catalog(str(db)) as cat:
        from sitewatch.store import get_site
        from sitewatch.workflow.pipeline import align_stage

        align_stage(cat, get_site(cat, "painted"))
    r = subprocess.run([EXE, "compare", "--site", "painted", "--db", str(db), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["site"] == "painted" and doc["events"] == []  # nothing detected, so no event
    r = subprocess.run([EXE, "assess", "--site", "painted", "--db", str(db), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    # No detection has run on this catalog: the assessment refuses to call it unchanged.
    assert a["posture"] == "insufficient_evidence" and "no equipment was detected" in a["headline"]
