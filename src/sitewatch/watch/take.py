"""Taking one new file of a subscription: ingest it, run the site as `sitewatch run` does,
and commit its events, its assessment, the alerts they trigger and the record of the file
in one transaction. An earlier alert whose event the rerun no longer reports (a late image
now lies between its two dates) is retracted in that transaction too (`watch.revisions`).

The image row itself is written first, by ingest, because alignment and detection read it
from the catalog; until the final commit the file is not recorded as taken. A crash between
the two leaves an image with no record of its file: the next pass takes the file again,
ingest finds the image already there ("unchanged"), and the site is run again, so the
commit happens once. Files that will never make an image of the site (another site's, a
copy of an image already catalogued) are recorded as refused, so they are not tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.errors import CatalogError, InputError
from sitewatch.store import (
    Catalog,
    FileVersion,
    Subscription,
    WatchSource,
    add_alerts,
    latest_assessment,
    queue_emails,
    record_file,
    refuse_file,
    subscription_alerts,
)
from sitewatch.watch.revisions import KINDS_SEEN, revise
from sitewatch.watch.rules import AlertRules, delivery_state, triggered_alerts
from sitewatch.workflow.ingest import Source, file_checksum, ingest_source
from sitewatch.workflow.pipeline import run_site


@dataclass(frozen=True)
class Taken:
    path: str
    status: str  # processed, refused
    image_id: str | None = None
    alerts: int = 0
    posture: str | None = None
    message: str = ""


def take_file(catalog: Catalog, subscription: Subscription, source: WatchSource, version: FileVersion,
              out_dir: str | Path, model, found: Source | None = None, deliver: bool | None = None) -> Taken:
    """Process one settled, readable file of the source (found: what a STAC item says of it,
    its path the file to read, which for a STAC API asset is its download while the version
    names the item). Ingest refusals are recorded and returned as refused; a failure of the
    site's run raises (nothing recorded: retried). deliver: False stores the alerts for the
    feed only, not to be sent (a backfill's); None sends them if the subscription has a webhook."""
    sha = file_checksum(found.path if found is not None else version.path)
    try:
        ingested = ingest_source(catalog, found or Source(path=version.path), site=subscription.site)
    except (InputError, CatalogError) as exc:
        refuse_file(catalog, source.id, version, sha, str(exc))
        return Taken(version.path, "refused", message=str(exc))
    image = ingested.image
    assert image is not None  # added or unchanged outcomes carry their image
    previous = latest_assessment(catalog, subscription.site)
    rules = AlertRules.from_json(subscription.rules)
    counted = {"alerts": 0}
    send = subscription.webhook_url is not None and deliver is not False

    def commit_with_results(session, outcome) -> None:
        tracking, crs, now = outcome.comparison.tracking, outcome.site.grid.crs, datetime.now(UTC)
        alerts = triggered_alerts(rules, subscription.id, subscription.site, image.id, tracking.events, tracking.pairs,
                                  previous, outcome.judgement.assessment, now, deliver=send, crs=crs)
        earlier = subscription_alerts(session, subscription.id, KINDS_SEEN)
        alerts = revise(alerts, earlier, tracking, crs, image.id, now, delivery_state(send))
        counted["alerts"] = add_alerts(session, alerts)
        recipients = list(subscription.rules.get("email", ()))
        if recipients and deliver is not False:  # the e-mail outbox, in the same transaction
            queue_emails(session, [a.id for a in alerts], recipients, datetime.now(UTC))
        record_file(session, source.id, version, sha, "processed", image_id=image.id,
                    message=outcome.judgement.assessment.headline)

    outcome = run_site(catalog, subscription.site, Path(out_dir) / subscription.site, model=model,
                       also=commit_with_results)
    return Taken(version.path, "processed", image.id, counted["alerts"], outcome.judgement.assessment.posture,
                 f"image {image.id}: {outcome.judgement.assessment.headline}")
