"""Bad input files and options that used to end in a traceback (issue 29, point 6): each is
now one line naming the file (or option) and the problem, with a non-zero exit, and
nothing is written."""

from __future__ import annotations

from datetime import UTC, datetime

import pystac
import pytest
from test_ingest import utm_raster
from typer.testing import CliRunner

from sitewatch.cli.main import app
from sitewatch.errors import SitewatchError


def stac_item(tmp_path, cloud) -> str:
    utm_raster(tmp_path / "scene.tif", tags=None)
    item = pystac.Item("scene-1", geometry=None, bbox=None, datetime=datetime(2024, 12, 3, 7, 45, tzinfo=UTC),
                       properties={"eo:cloud_cover": cloud})
    item.add_asset("visual", pystac.Asset(str(tmp_path / "scene.tif"), media_type=pystac.MediaType.COG))
    path = tmp_path / "item.json"
    item.set_self_href(str(path))
    item.save_object(include_self_link=False, dest_href=str(path))
    return str(path)


@pytest.mark.parametrize("cloud", ["lots", -5, 250, True])
def test_a_stac_item_with_a_bad_cloud_cover_is_one_line(tmp_path, cloud):
    item = stac_item(tmp_path, cloud)
    r = CliRunner().invoke(app, ["ingest", item, "--db", str(tmp_path / "catalog.db")])
    assert r.exit_code == 1 and isinstance(r.exception, SitewatchError), r.exception
    errors = [x for x in r.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and item in errors[0] and "eo:cloud_cover" in errors[0], r.output
