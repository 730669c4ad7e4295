"""The before/after chips of an event alert's e-mail: the item's place cut from the two
images the event compares, on the site grid, with its box drawn, by the report's own chips
(`report.html.pair_chips`), so the e-mail shows what the report shows.

They are cut when the e-mail is composed, from the catalog's current events and the
images' files: an event a later image revised away, or an image whose file is gone, gives
no chip, and the e-mail goes without it.
"""

from __future__ import annotations

import base64

from rasterio.errors import RasterioError

from sitewatch.errors import CatalogError
from sitewatch.report.html import pair_chips
from sitewatch.store import Alert, Catalog, alignments_for_site, events_for_site, get_image, get_site
from sitewatch.workflow.looks import read_site_pixels


def alert_chips(catalog: Catalog, alert: Alert) -> list[tuple[str, str, bytes]]:
    """(file name, caption, PNG bytes) of each chip of an event alert; [] for a posture alert."""
    event = alert.payload.get("data", {}).get("event")
    if not event or alert.event_id is None:
        return []
    try:
        site = get_site(catalog, alert.site)
    except CatalogError:
        return []
    found = next((e for e in events_for_site(catalog, alert.site) if e.id == alert.event_id), None)
    if found is None:
        return []
    pair = (event["before_image"], event["after_image"])
    aligns = alignments_for_site(catalog, alert.site)
    pixels = {}
    for image_id in pair:
        a = aligns.get(image_id)
        if a is None or not a.usable:
            continue
        try:
            pixels[image_id] = read_site_pixels(get_image(catalog, image_id), a, site.grid)
        except (CatalogError, RasterioError, OSError):
            continue
    chips = pair_chips(site, pixels, pair, found)
    return [(f"chip-{n + 1}.png", c["caption"], base64.b64decode(c["data"])) for n, c in enumerate(chips)]
