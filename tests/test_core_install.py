"""The core install: without any extra's libraries, detection and the CLI work, and a
command that needs an extra fails alone, naming the extra to install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import rasterio
from rasterio.transform import from_origin

# Runs the CLI with every extra's libraries made unimportable, as on `pip install sitewatch`.
WITHOUT_EXTRAS = """
import importlib.abc, sys
from sitewatch.errors import EXTRA_OF_LIBRARY

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in EXTRA_OF_LIBRARY:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
for name in [m for m in sys.modules if m.split(".")[0] in EXTRA_OF_LIBRARY]:
    del sys.modules[name]
sys.argv = ["sitewatch", *sys.argv[1:]]
from sitewatch.cli.main import main
main()
"""


def _sitewatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS, *args], capture_output=True, text=True, timeout=300)


def test_detect_runs_without_any_extra(tmp_path):
    image = tmp_path / "grass.tif"
    rng = np.random.default_rng(0)
    with rasterio.open(image, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs="EPSG:32637",
                       transform=from_origin(500000, 3900000, 0.5, 0.5)) as ds:
        ds.write(rng.integers(90, 110, (3, 256, 256), dtype=np.uint8))
    out = tmp_path / "found.geojson"
    done = _sitewatch("detect", str(image), "--out", str(out))
    assert done.returncode == 0, done.stderr
    collection = json.loads(out.read_text())
    assert collection["type"] == "FeatureCollection" and collection["site_crs"] == "EPSG:32637"


def test_a_catalog_command_names_the_extra_it_needs(tmp_path):
    done = _sitewatch("sites", "list", "--db", str(tmp_path / "c.db"))
    assert done.returncode == 1
    assert "needs the catalog extra (" in done.stderr and "pip install 'sitewatch[catalog]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_web_app_names_its_extra():
    done = _sitewatch("serve")
    assert done.returncode == 1 and "sitewatch[web]" in done.stderr


def test_every_extra_the_cli_can_name_is_one_the_package_declares():
    from importlib.metadata import metadata

    from sitewatch.errors import EXTRA_OF_LIBRARY

    declared = set(metadata("sitewatch").get_all("Provides-Extra") or [])
    assert set(EXTRA_OF_LIBRARY.values()) <= declared
