"""sitewatch: watch air bases and naval ports from orbit.

From georeferenced satellite images of a site taken on different dates, sitewatch aligns the
dates, finds and identifies the equipment (class, type, state, heading), tracks each item
across dates and states what is happening, with evidence and a confidence level.

Detect in one image::

    import sitewatch
    found = sitewatch.detect_image("image.tif")            # or a rasterio dataset, or an array
    for d in found:                                        # with transform= and crs=
        print(d.cls, d.type, d.state, round(d.score, 2), d.box.cx, d.box.cy, d.box.heading_deg)

Watch a site::

    with sitewatch.open_catalog("catalog.db") as catalog:
        sitewatch.add_sites(catalog, "sites.geojson")      # or a scenario YAML
        sitewatch.ingest(catalog, ["imagery/"])
        outcome = sitewatch.run_site(catalog, "khmeimim", "report/")
        events = sitewatch.site_events(catalog, "khmeimim")
        judgement = sitewatch.site_assessment(catalog, "khmeimim")

`simulate_scenario` renders test imagery with its truth; `load_detector` opens the shipped model,
another sitewatch model, or a YOLO-OBB export, all of which satisfy the `Detector` protocol.
Errors derive from `sitewatch.errors.SitewatchError`.
"""

from sitewatch._version import __version__
from sitewatch.api import (
    Detector,
    add_sites,
    detect_image,
    ingest,
    load_detector,
    open_catalog,
    run_site,
    simulate_scenario,
    site_assessment,
    site_events,
)

__all__ = ["Detector", "__version__", "add_sites", "detect_image", "ingest", "load_detector", "open_catalog",
           "run_site", "simulate_scenario", "site_assessment", "site_events"]
