"""Shared fixtures. Keep this small and generic.

`catalog_url` / `catalog` run a test against both back ends: a SQLite file in tmp_path, and
PostgreSQL when SITEWATCH_TEST_PG_URL names a server (each test gets its own schema, dropped
afterwards). Without that variable the PostgreSQL case skips and says why.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_ENV = "SITEWATCH_TEST_PG_URL"


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    """A database URL (or SQLite path) for an empty catalog, on each back end."""
    if request.param == "sqlite":
        yield str(tmp_path / "catalog.db")
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"no PostgreSQL server configured (set {PG_ENV}=postgresql://user:pw@host/db)")
    from sqlalchemy import create_engine, text

    from sitewatch.store.catalog import catalog_url as normalise

    base = normalise(base)
    schema = "sw_test_" + uuid.uuid4().hex[:12]
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def catalog(catalog_url):
    """An open, empty, migrated catalog on each back end."""
    from sitewatch.store import open_catalog

    cat = open_catalog(catalog_url)
    yield cat
    cat.close()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`sitewatch demo` on a fresh folder, run once per session (about a minute) and shared by
    the tests of its output: (out folder, the finished process). Tests must not change it;
    copy what they write to."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("demo-run") / "demo"
    exe = Path(sys.executable).with_name("sitewatch")
    done = subprocess.run([str(exe), "demo", "--out", str(out)], capture_output=True, text=True, timeout=900)
    return out, done
