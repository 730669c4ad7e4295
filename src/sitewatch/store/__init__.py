"""The catalog: sites, images, alignments and every stage's results, in SQLite or PostgreSQL.

Open it with open_catalog(); every other function takes the open Catalog first and domain
objects after. Schema changes go through the Alembic migrations in store/migrations.
"""

from sitewatch.store.alerts import (
                                    Alert,
                                    Replayed,
                                    acknowledge_alert,
                                    add_alerts,
                                    dead_alerts,
                                    due_alerts,
                                    get_alert,
                                    list_alerts,
                                    record_attempt,
                                    replay_alerts,
                                    subscription_alerts,
)
from sitewatch.store.catalog import Catalog, catalog_url, open_catalog
from sitewatch.store.emails import QueuedEmail, dead_email_counts, due_emails, list_emails, queue_emails, record_email
from sitewatch.store.images import (
                                    add_image,
                                    aligned_images,
                                    alignment_for,
                                    alignments_for_site,
                                    get_image,
                                    image_by_checksum,
                                    image_count,
                                    image_details,
                                    images_for_site,
                                    save_alignment,
                                    save_check_caveats,
)
from sitewatch.store.records import AlignmentResult, ImageRecord, Run
from sitewatch.store.results import (
                                    CarriedVerdicts,
                                    add_verdict,
                                    change_regions_for_site,
                                    detections_for_image,
                                    event_evidence,
                                    events_for_site,
                                    finish_run,
                                    get_run,
                                    hold_site,
                                    latest_assessment,
                                    latest_assessment_run,
                                    record_run,
                                    release_site,
                                    runs_of_kind,
                                    save_assessment,
                                    save_detections,
                                    save_site_results,
                                    start_run,
                                    sweep_stale_runs,
                                    tracks_for_site,
                                    verdicts_for_event,
)
from sitewatch.store.sites import add_site, get_site, list_sites, reference_image_id, set_reference_image, site_polygons
from sitewatch.store.subscriptions import (
                                    Subscription,
                                    WatchSource,
                                    add_subscription,
                                    get_subscription,
                                    list_subscriptions,
                                    remove_subscription,
                                    set_webhook_secret,
                                    webhook_secret,
)
from sitewatch.store.watched import (
    FileVersion,
    WatchedDocument,
    record_file,
    refuse_file,
    save_documents,
    taken_versions,
    watched_documents,
    watched_files,
)

__all__ = [
    "AlignmentResult", "CarriedVerdicts", "Catalog", "ImageRecord", "Run", "add_image", "add_site", "aligned_images",
    "add_verdict", "alignment_for",
    "alignments_for_site", "catalog_url", "change_regions_for_site", "detections_for_image", "event_evidence",
    "events_for_site", "finish_run", "get_image", "get_run", "hold_site", "get_site", "image_by_checksum", "image_count",
    "image_details", "images_for_site", "latest_assessment", "latest_assessment_run", "list_sites", "open_catalog", "record_run",
    "release_site",
    "reference_image_id", "runs_of_kind",
    "save_alignment", "save_assessment", "save_check_caveats", "save_detections", "save_site_results",
    "set_reference_image", "site_polygons", "start_run", "sweep_stale_runs", "tracks_for_site", "verdicts_for_event",
    # watching sites: subscriptions, the file versions their sources took, the alerts outbox
    "Alert", "FileVersion", "Subscription", "WatchSource", "add_alerts", "add_subscription", "due_alerts",
    "get_subscription", "list_alerts", "list_subscriptions", "record_attempt", "record_file", "refuse_file",
    "remove_subscription", "taken_versions", "watched_files", "webhook_secret",
    "WatchedDocument", "save_documents", "watched_documents",
    "set_webhook_secret", "QueuedEmail", "due_emails", "list_emails", "queue_emails", "record_email",
    "Replayed", "acknowledge_alert", "dead_email_counts", "dead_alerts", "get_alert", "replay_alerts",
    "subscription_alerts",
]
