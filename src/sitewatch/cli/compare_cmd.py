"""`sitewatch compare --site NAME`: events between the aligned dates of a site."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION

console = Console()


def _compare(db: str | None, site: str):
    """Looks, comparison and judgement of a site, without writing anything."""
    from sitewatch.assess.posture import assess
    from sitewatch.store import get_site, open_catalog
    from sitewatch.workflow.looks import site_looks
    from sitewatch.workflow.pipeline import compare_sources

    with open_catalog(db) as catalog:
        s = get_site(catalog, site)
        found, pixels = site_looks(catalog, s)
    primary, comp, flags = compare_sources(s, found.looks, pixels)
    judgement = assess(s, primary, comp.tracking.events, comp.regions, excluded=found.excluded,
                       incomparable=comp.incomparable, flags=flags)
    return s, found, comp, judgement


@app.command("compare")
def compare_cmd(site: str = typer.Option(..., "--site", help="Site name in the catalog."),
                as_json: bool = typer.Option(False, "--json", help="Print the events as JSON."),
                db: str = DB_OPTION) -> None:
    """Track items across the aligned dates of a site and list the events."""
    from sitewatch.change.events import confidence_band
    from sitewatch.report.exports import event_props

    _s, _found, comp, _j = _compare(db, site)
    events = comp.tracking.events
    if as_json:
        print(json.dumps({"site": site, "events": [event_props(e, comp.tracking.pairs.get(e.id)) for e in events],
                          "unchanged": [{"before": b, "after": a, "count": n}
                                        for (b, a), n in comp.tracking.unchanged.items()],
                          "change_regions": [{"id": r.id, "area_m2": round(r.area_m2, 1), "zone": r.zone}
                                             for r in comp.regions]}, indent=1))
        return
    t = Table(title=f"{escape(site)}: events")
    for col in ("event", "kind", "item", "zone", "confidence", "note"):
        t.add_column(col)
    for e in events:
        t.add_row(e.id, e.kind, e.type, escape(e.zone or ""), f"{confidence_band(e.confidence)} ({e.confidence:.2f})",
                  escape(e.note))
    console.print(t)
    for (b, a), n in comp.tracking.unchanged.items():
        say(console, f"{b} -> {a}: {n} items unchanged")
