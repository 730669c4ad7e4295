"""Runs and killed or concurrent processes (issue 29): a run whose process was killed no
longer stays `running` for ever (the next process to start a run, or `serve` starting,
marks it `abandoned`), and a second `run` of a site while another process runs it refuses
with one line naming the site, instead of both doing the work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text
from test_ingest import SITE
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import CatalogError
from sitewatch.store import add_site, finish_run, get_run, hold_site, open_catalog, release_site, start_run, sweep_stale_runs
from sitewatch.store.owner import Owner, is_gone, this_process

# A process that starts a run (or holds the site), says its id, and then waits to be killed.
HOLDER = """
import sys, time
from sitewatch.store import hold_site, open_catalog, start_run
with open_catalog(sys.argv[1]) as cat:
    run = hold_site(cat, sys.argv[2]) if sys.argv[3] == "hold" else start_run(cat, "detect", sys.argv[2])
print(run.id, flush=True)
time.sleep(120)
"""


@pytest.fixture
def db(tmp_path) -> str:
    path = str(tmp_path / "catalog.db")
    with open_catalog(path) as cat:
        add_site(cat, SITE)
    return path


@pytest.fixture
def holder(db):
    """Start a process that holds a run on SITE; yields (process, run id) and kills it at the end."""
    procs = []

    def start(mode: str):
        p = subprocess.Popen([sys.executable, "-c", HOLDER, db, SITE.name, mode], stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p, p.stdout.readline().strip()

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(30)


def kill(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)


def status(db: str, run_id: str) -> str:
    with open_catalog(db) as cat:
        return get_run(cat, run_id).status


def test_a_run_whose_process_was_killed_is_abandoned_by_the_next_run(db, holder):
    p, run_id = holder("detect")
    with open_catalog(db) as cat:
        assert sweep_stale_runs(cat) == []  # alive: left alone
    assert status(db, run_id) == "running"
    kill(p)
    with open_catalog(db) as cat:
        mine = start_run(cat, "detect", SITE.name)
        assert get_run(cat, run_id).status == "abandoned" and get_run(cat, run_id).finished is not None
        assert get_run(cat, mine.id).status == "running"  # this process's own run is alive
        finish_run(cat, mine)


def test_serve_start_sweeps_runs_of_killed_processes(db, holder, tmp_path):
    pytest.importorskip("fastapi")
    from sitewatch.web import WebSettings, create_app

    p, run_id = holder("detect")
    kill(p)
    create_app(WebSettings(data_dir=tmp_path / "data", db=db)).state.catalog.close()
    assert status(db, run_id) == "abandoned"


def test_runs_of_other_hosts_or_without_an_owner_are_left_alone(db):
    with open_catalog(db) as cat:
        other = start_run(cat, "detect", SITE.name)
        old = start_run(cat, "detect", SITE.name)
        with cat.engine.begin() as conn:
            conn.execute(text("UPDATE runs SET params = :p WHERE id = :i"),
                         {"p": json.dumps({"process": Owner("elsewhere", 1, "-", "-").text()}), "i": other.id})
            conn.execute(text("UPDATE runs SET params = '{}' WHERE id = :i"), {"i": old.id})
        assert sweep_stale_runs(cat) == []


def _as_other_host(cat, run_id: str, beat_age_s: float | None) -> None:
    from datetime import UTC, datetime, timedelta

    params = {"process": Owner("elsewhere", 1, "-", "-").text()}
    if beat_age_s is not None:
        params["heartbeat"] = (datetime.now(UTC) - timedelta(seconds=beat_age_s)).isoformat(timespec="seconds")
    with cat.engine.begin() as conn:
        conn.execute(text("UPDATE runs SET params = :p WHERE id = :i"), {"p": json.dumps(params), "i": run_id})


def test_a_run_of_another_host_whose_heartbeat_stopped_is_abandoned_and_its_hold_taken_over(db):
    from sitewatch.store import heartbeat

    with open_catalog(db) as cat:
        beating, silent = start_run(cat, "detect", SITE.name), start_run(cat, "detect", SITE.name)
        hold = hold_site(cat, SITE.name)
        for run in (beating, silent, hold):
            heartbeat.let_go(run.id)  # as if another host held them: this process writes no beat
        _as_other_host(cat, beating.id, 60.0)  # beat a minute ago: still going
        _as_other_host(cat, silent.id, heartbeat.STALE_AFTER_S + 60)
        _as_other_host(cat, hold.id, heartbeat.STALE_AFTER_S + 60)
        assert sorted(sweep_stale_runs(cat)) == sorted([silent.id, hold.id])
        assert get_run(cat, beating.id).status == "running" and get_run(cat, silent.id).status == "abandoned"
        mine = hold_site(cat, SITE.name)  # the dead host's hold no longer blocks the site
        release_site(cat, mine)


def test_open_runs_beat_until_they_finish(db, monkeypatch):
    from sitewatch.store import heartbeat

    with open_catalog(db) as cat:
        run = start_run(cat, "detect", SITE.name)
        _as_other_host(cat, run.id, heartbeat.STALE_AFTER_S + 60)  # an old beat, as a hung writer's
        heartbeat.beat_now()
        age = heartbeat.beat_age_s(get_run(cat, run.id).params)
        assert age is not None and age < 5  # this process still holds it open: the beat is fresh
        assert sweep_stale_runs(cat) == []
        finish_run(cat, run)
        _as_other_host(cat, run.id, heartbeat.STALE_AFTER_S + 60)
        assert run.id not in heartbeat._open  # finished: no longer beaten
        heartbeat.beat_now()
        assert heartbeat.beat_age_s(get_run(cat, run.id).params) > heartbeat.STALE_AFTER_S


def test_a_reused_pid_is_not_taken_for_the_run_s_process():
    me = this_process()
    assert not is_gone(me)
    if me.started != "-":  # /proc tells start times apart: the same pid, started at another time
        assert is_gone(Owner(me.host, me.pid, me.boot, str(int(me.started) + 1)))
    if me.boot != "-":
        assert is_gone(Owner(me.host, me.pid, "another-boot", me.started))


def test_a_second_run_of_a_held_site_refuses_naming_the_site(db, holder):
    p, run_id = holder("hold")
    with open_catalog(db) as cat:
        with pytest.raises(CatalogError, match=rf"site '{SITE.name}' is being processed by process {p.pid} on "):
            hold_site(cat, SITE.name)
    kill(p)
    with open_catalog(db) as cat:  # once its process is gone the site is free again
        run = hold_site(cat, SITE.name)
        assert Owner.parse(get_run(cat, run_id).params["process"]) == this_process()  # taken over
        release_site(cat, run)
        with pytest.raises(CatalogError):
            get_run(cat, run_id)


def test_cli_run_of_a_held_site_is_one_line_and_exit_1(db, holder, tmp_path):
    from sitewatch.detect.model import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip("no shipped detector for `run`")
    p, _ = holder("hold")
    r = CliRunner().invoke(app, ["run", "--site", SITE.name, "--out", str(tmp_path / "out"), "--db", db])
    assert r.exit_code == 1 and isinstance(r.exception, CatalogError), r.output
    assert f"site '{SITE.name}' is being processed by process {p.pid}" in str(r.exception)
    assert not (tmp_path / "out").exists()


def test_two_claims_at_once_never_both_hold_the_site(db):
    with open_catalog(db) as cat:
        for _ in range(5):
            start = threading.Barrier(2)
            held, refused = [], []

            def claim():
                start.wait()
                try:
                    held.append(hold_site(cat, SITE.name))
                except CatalogError:
                    refused.append(1)

            threads = [threading.Thread(target=claim) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(held) == 1 and len(refused) == 1
            release_site(cat, held[0])
