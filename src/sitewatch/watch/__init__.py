"""Watching sites: new imagery found, processed and alerted on by itself, exactly once.

    subscriptions (store)   a site, its sources, its alert rules, its webhook
    folder                  which files of a watched folder are whole and ready
    take                    one new file: ingest, run the site, commit events + alerts + record
    rules                   which findings of a new image alert
    delivery, webhooks      the outbox sent to Standard Webhooks receivers, with retries
    feed                    an Atom feed of a site's alerts
    service                 the passes and the loop (`sitewatch watch`)

It sits where the workflow does: on the stages, the store and `workflow.pipeline.run_site`,
which it reuses as it is, so a watched image is processed exactly as `sitewatch run` would.
"""

from sitewatch.watch.rules import AlertRules
from sitewatch.watch.service import PassReport, Watcher

__all__ = ["AlertRules", "PassReport", "Watcher"]
