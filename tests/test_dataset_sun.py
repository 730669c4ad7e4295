"""`sitewatch dataset --sun`: object chips under a chosen range of sun elevations (low sun
casts the long shadows that stretched the detector's aircraft boxes)."""

import json

from typer.testing import CliRunner

from sitewatch.cli.main import app


def test_object_chips_take_their_sun_from_the_range_asked(tmp_path):
    out = tmp_path / "low"
    r = CliRunner().invoke(app, ["dataset", "--out", str(out), "--count", "3", "--gsd", "0.5", "--chip", "96",
                                 "--sun", "10,12"])
    assert r.exit_code == 0, r.output
    suns = [json.loads(p.read_text())["sun_elevation_deg"] for p in sorted((out / "meta").glob("*.json"))]
    assert len(suns) == 3 and all(10.0 <= e <= 12.0 for e in suns), suns
    assert json.loads((out / "dataset.json").read_text())["sun_elevation_deg"] == [10.0, 12.0]
    default = tmp_path / "default"
    assert CliRunner().invoke(app, ["dataset", "--out", str(default), "--count", "2", "--gsd", "0.5",
                                    "--chip", "96"]).exit_code == 0
    suns = [json.loads(p.read_text())["sun_elevation_deg"] for p in (default / "meta").glob("*.json")]
    assert all(25.0 <= e <= 80.0 for e in suns), suns


def test_a_sun_range_that_is_not_one_is_refused_before_anything_is_written(tmp_path):
    for bad, says in (("30,10", "low to high"), ("2,20", "5-90"), ("high", "LOW,HIGH")):
        out = tmp_path / bad.replace(",", "-")
        r = CliRunner().invoke(app, ["dataset", "--out", str(out), "--count", "2", "--chip", "96", "--sun", bad])
        assert r.exit_code != 0
        assert "--sun" in str(r.exception or r.output) and says in str(r.exception or r.output)
        assert not out.exists()
