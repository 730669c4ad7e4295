"""`sitewatch assess --site NAME`: the posture of a site, with its evidence and caveats."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from sitewatch.cli.compare_cmd import _compare
from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION

console = Console()


@app.command("assess")
def assess_cmd(site: str = typer.Option(..., "--site", help="Site name in the catalog."),
               as_json: bool = typer.Option(False, "--json", help="Print the assessment as JSON."),
               db: str = DB_OPTION) -> None:
    """State a site's posture with likelihood, confidence, evidence and caveats."""
    _s, _found, _comp, j = _compare(db, site)
    a = j.assessment
    if as_json:
        print(json.dumps({"site": a.site, "posture": a.posture, "likelihood": a.likelihood,
                          "confidence": a.confidence, "headline": a.headline, "indicators": list(a.indicators),
                          "evidence": [{"image_id": e.image_id, "event_id": e.event_id, "note": e.note,
                                        "window": None if e.window is None else
                                        [e.window.col_off, e.window.row_off, e.window.width, e.window.height]}
                                       for e in a.evidence],
                          "caveats": list(a.caveats)}, indent=1))
        return
    say(console, a.headline)
    for i in a.indicators:
        say(console, f"  - {i}")
    for c in a.caveats:
        say(console, f"  caveat: {c}")
