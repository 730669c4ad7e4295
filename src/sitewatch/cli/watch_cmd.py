"""`sitewatch watch`, `sitewatch backfill` and `sitewatch subscriptions add/list/remove/rotate-secret`
(`sitewatch alerts` is in alerts_cmd)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitewatch.cli.main import app, check_range, say
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.errors import InputError

console = Console()
subs_app = typer.Typer(help="Subscriptions: the sites `sitewatch watch` watches, and what alerts.", no_args_is_help=True)
app.add_typer(subs_app, name="subscriptions")


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _catalog_location(given: str) -> str:
    """A static catalog's URL as given, or its path made absolute."""
    from sitewatch.watch.stac_remote import is_url

    return given if is_url(given) else str(Path(given).expanduser().resolve())


def _secret_from(path: Path) -> str:
    """The secret in the file; a new one written there (owner-only) if there is no file."""
    from sitewatch.watch.webhooks import check_secret, new_secret

    if path.exists():
        return check_secret(path.read_text(encoding="utf-8"), str(path))
    secret = new_secret()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    say(console, f"a new webhook secret is in {path} (give it to the receiver; it is not shown)", "note:")
    return secret


@subs_app.command("add")
def subs_add(site: str = typer.Option(..., "--site", help="Site name in the catalog."),
             folder: list[Path] = typer.Option(None, "--folder", help="A folder whose new images are taken "
                                               "(repeat for more)."),
             stac: list[str] = typer.Option(None, "--stac", "--stac-catalog", help="A static STAC catalog "
                                            "(catalog.json: a local path, or an https URL, http only to loopback, "
                                            "read by conditional GET) whose new items' assets are taken (repeat "
                                            "for more)."),
             stac_api: str = typer.Option(None, "--stac-api", help="A STAC API's landing page URL whose new items "
                                          "over the site are taken (with --collection)."),
             collection: list[str] = typer.Option(None, "--collection", help="The STAC API collection to search "
                                                  "(repeat for more)."),
             asset: str = typer.Option(None, "--asset", help="Take only this asset key of each STAC API item "
                                       "(default: every raster asset)."),
             kinds: list[str] = typer.Option(None, "--kinds", help="Event kinds that alert (comma-separated; "
                                             "default: all)."),
             classes: list[str] = typer.Option(None, "--classes", help="Equipment classes that alert "
                                               "(comma-separated; default: all)."),
             min_confidence: float = typer.Option(0.5, "--min-confidence", help="Lowest event confidence that "
                                                  "alerts, 0 to 1."),
             posture: bool = typer.Option(True, "--posture/--no-posture", help="Alert when the site's posture "
                                          "changes."),
             webhook: str = typer.Option(None, "--webhook", help="Standard Webhooks receiver URL (https, or http "
                                         "to loopback)."),
             secret_file: Path = typer.Option(None, "--secret-file", help="File holding the webhook secret "
                                              "(whsec_...); created with a new secret if absent."),
             email: list[str] = typer.Option(None, "--email", help="Send each alert to this address too (repeat "
                                             "for more; the relay: SITEWATCH_SMTP_HOST etc.)."),
             db: str = DB_OPTION) -> None:
    """Watch a site: its sources, the findings that alert, and the webhook they go to."""
    from sitewatch.store import add_subscription, open_catalog
    from sitewatch.watch.subscribe import subscription_parts
    from sitewatch.watch.webhooks import shown_url

    check_range("--min-confidence", min_confidence, 0.0, 1.0)
    sources, stored_rules = subscription_parts(
        [str(p.expanduser().resolve()) for p in folder or ()], [_catalog_location(p) for p in stac or ()],
        stac_api, collection or (), asset, _split(kinds), _split(classes), min_confidence, posture, webhook,
        _split(email) or ())
    secret = None
    if webhook is not None:
        if secret_file is None:
            raise InputError("--webhook", "give --secret-file too: the file the signing secret is read from "
                             "(or written to)")
        secret = _secret_from(secret_file)
    elif secret_file is not None:
        raise InputError("--secret-file", "is for a --webhook; give one")
    with open_catalog(db) as catalog:
        sub = add_subscription(catalog, site, sources, stored_rules, webhook, secret)
    say(console, f"subscription {sub.id}: site {sub.site}, {len(sub.sources)} source(s)"
        + (f", webhook {shown_url(webhook)}" if webhook else ""))


@subs_app.command("list")
def subs_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
              db: str = DB_OPTION) -> None:
    """List the subscriptions (webhook URLs without their query; secrets never)."""
    from sitewatch.store import list_subscriptions, open_catalog
    from sitewatch.watch.subscribe import shown_source, subscription_json
    from sitewatch.watch.webhooks import shown_url

    with open_catalog(db) as catalog:
        subs = list_subscriptions(catalog)
    rows = [subscription_json(s) for s in subs]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="subscriptions")
    for col in ("id", "site", "sources", "alerts on", "webhook"):
        table.add_column(col)
    for sub in subs:
        rules = sub.rules
        on = (f"{','.join(rules['kinds'])}; {','.join(rules['classes'])}; >= {rules['min_confidence']:g}"
              + ("; posture" if rules["posture_change"] else ""))
        table.add_row(sub.id, escape(sub.site), escape("\n".join(shown_source(x) for x in sub.sources)), on,
                      escape(shown_url(sub.webhook_url) if sub.webhook_url else "-"))
    console.print(table)


@subs_app.command("remove")
def subs_remove(sub_id: str = typer.Argument(..., help="Subscription id (sitewatch subscriptions list)."),
                db: str = DB_OPTION) -> None:
    """Stop watching: the subscription and its sources go; its alerts stay in the feed."""
    from sitewatch.store import open_catalog, remove_subscription

    with open_catalog(db) as catalog:
        remove_subscription(catalog, sub_id)
    say(console, f"removed subscription {sub_id}")


@subs_app.command("rotate-secret")
def subs_rotate_secret(sub_id: str = typer.Argument(..., help="Subscription id (sitewatch subscriptions list)."),
                       secret_file: Path = typer.Option(None, "--secret-file", help="File holding the new secret "
                                                        "(created with a new one if absent); the current secret "
                                                        "keeps signing beside it until --drop-previous."),
                       drop_previous: bool = typer.Option(False, "--drop-previous", help="Sign with the newest "
                                                          "secret only (once the receiver has moved to it)."),
                       db: str = DB_OPTION) -> None:
    """Rotate a webhook's secret: deliveries carry a signature under each secret held."""
    from sitewatch.store import open_catalog, set_webhook_secret, webhook_secret
    from sitewatch.watch.webhooks import secrets_of

    if (secret_file is None) == (not drop_previous):
        raise InputError("sitewatch subscriptions rotate-secret", "give --secret-file (a new secret) or "
                         "--drop-previous (keep the newest only)")
    with open_catalog(db) as catalog:
        current = secrets_of(webhook_secret(catalog, sub_id) or "")
        if drop_previous:
            if not current:
                raise InputError(sub_id, "the subscription holds no webhook secret")
            set_webhook_secret(catalog, sub_id, current[0])
            say(console, f"subscription {sub_id}: signing with its newest secret only")
            return
        assert secret_file is not None
        new = _secret_from(secret_file)
        held = [new] + [s for s in current[:1] if s != new]
        set_webhook_secret(catalog, sub_id, " ".join(held))
    say(console, f"subscription {sub_id}: signing with {len(held)} secret(s), the new one first "
        "(--drop-previous once the receiver verifies with it)")


@app.command("watch")
def watch_cmd(once: bool = typer.Option(False, "--once", help="One pass over every source, then exit."),
              interval: float = typer.Option(60.0, "--interval", help="Seconds between polls."),
              settle: float = typer.Option(2.0, "--settle", help="Seconds a file's size must stay the same "
                                           "before it is taken."),
              out: Path = typer.Option(Path("sitewatch-watch"), "--out", help="Folder for each site's report "
                                       "(OUT/SITE)."),
              feeds: Path = typer.Option(None, "--feeds", help="Folder for each site's Atom feed (SITE.atom; "
                                         "default: OUT/feeds)."),
              model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
              downloads: Path = typer.Option(None, "--downloads", help="Folder the STAC API assets are downloaded "
                                             "to and kept in (default: OUT/downloads)."),
              host_rate: float = typer.Option(2.0, "--host-rate", help="At most this many requests a second to "
                                              "any one STAC API host."),
              events: bool = typer.Option(True, "--events/--no-events", help="Watch local folders for file-system "
                                          "events too, so a new file is seen at once (polls go on; network and "
                                          "FUSE mounts are polled only). --no-events: polling only."),
              db: str = DB_OPTION) -> None:
    """Watch the subscriptions' sources: process each new image as `run` does, alert, deliver."""
    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import open_catalog
    from sitewatch.watch import Watcher

    check_range("--interval", interval, 0.1, 86400.0)
    check_range("--settle", settle, 0.0, 3600.0)
    check_range("--host-rate", host_rate, 0.01, 1000.0)
    m = DetectionModel(model)
    with open_catalog(db) as catalog:
        w = Watcher(catalog, m, out, feeds or out / "feeds", settle_s=settle,
                    say=lambda line: say(console, line), host_rate=host_rate, downloads_dir=downloads,
                    events=events)
        if not once:
            how = "and on local folders' file-system events" if events else "(polling only: --no-events)"
            say(console, f"watching every {interval:g} s {how} (Ctrl-C to stop)")
            try:
                w.run_forever(interval)
            except KeyboardInterrupt:
                say(console, "stopped")
            return
        report = w.run_pass()
    d = report.delivery
    e = report.email
    say(console, f"{len(report.processed)} image(s) processed, {len(report.taken) - len(report.processed)} refused, "
        f"{len(report.waiting)} not readable yet, {len(report.failed)} failed; webhooks: {d.delivered} delivered, "
        f"{d.retried} to retry, {d.dead} given up; e-mails: {e.sent} sent, {e.retried} to retry, {e.dead} given up")
    for line in report.waiting:
        say(console, line, "note:")
    if report.failed:
        raise typer.Exit(1)


def day_option(option: str, text: str, end: bool) -> datetime:
    from sitewatch.geo.raster import parse_datetime

    when = parse_datetime(text)
    if when is None:
        raise InputError(option, f"not a date or datetime: {text!r} (e.g. 2024-12-01 or 2024-12-01T06:00:00Z)")
    if end and len(text.strip()) == 10:  # a bare date: to its end
        when = when.replace(hour=23, minute=59, second=59, microsecond=999999)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def period_options(since: str, until: str | None) -> tuple[datetime, datetime]:
    """--since and --until (default: now) as UTC datetimes; InputError if they are reversed."""
    start = day_option("--since", since, end=False)
    end = day_option("--until", until, end=True) if until else datetime.now(UTC)
    if end < start:
        raise InputError("--until", f"{end:%Y-%m-%d %H:%M} is before --since {start:%Y-%m-%d %H:%M}")
    return start, end


@app.command("backfill")
def backfill_cmd(since: str = typer.Option(..., "--since", help="First day (or datetime, UTC) of acquisition."),
                 until: str = typer.Option(None, "--until", help="Last day (or datetime, UTC) of acquisition "
                                           "(default: now)."),
                 subscription: str = typer.Option(None, "--subscription", help="Only this subscription "
                                                  "(default: every subscription of --site, or all)."),
                 site: str = typer.Option(None, "--site", help="Only the subscriptions of this site."),
                 dry_run: bool = typer.Option(False, "--dry-run", help="Say how many images it would process, "
                                              "and which; process none."),
                 deliver: bool = typer.Option(False, "--deliver/--no-deliver", help="Send the backfill's alerts "
                                              "to the webhooks too (default: stored for the feed only)."),
                 out: Path = typer.Option(Path("sitewatch-watch"), "--out", help="Folder for each site's report."),
                 downloads: Path = typer.Option(None, "--downloads", help="Folder the STAC API assets are "
                                                "downloaded to (default: OUT/downloads)."),
                 model: Path = typer.Option(None, "--model", help="ONNX model (default: the shipped one)."),
                 host_rate: float = typer.Option(2.0, "--host-rate", help="At most this many requests a second to "
                                                 "any one STAC API host."),
                 db: str = DB_OPTION) -> None:
    """Take the images of a past period that the subscriptions' sources hold and the watch has not."""
    from sitewatch.store import get_subscription, list_subscriptions, open_catalog
    from sitewatch.watch import Watcher, backfill

    start, end = period_options(since, until)
    check_range("--host-rate", host_rate, 0.01, 1000.0)
    with open_catalog(db) as catalog:
        subs = [get_subscription(catalog, subscription)] if subscription else list_subscriptions(catalog, site=site)
        if not subs:
            raise InputError("sitewatch backfill", "no subscription to backfill (sitewatch subscriptions list)")
        m = None
        if not dry_run:
            from sitewatch.detect.model import DetectionModel

            m = DetectionModel(model)
        w = Watcher(catalog, m, out, out / "feeds", settle_s=0.0, say=lambda line: say(console, line),
                    host_rate=host_rate, downloads_dir=downloads)
        total = processed = failed = 0
        for sub in subs:
            p = backfill.plan(w, sub, start, end)
            for line in p.problems:
                say(console, line, "note:")
            total += len(p.candidates)
            if dry_run:
                say(console, f"subscription {sub.id} ({sub.site}): would process {len(p.candidates)} image(s) "
                    f"acquired {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
                for c in p.candidates:
                    console.print(f"  {c.acquired:%Y-%m-%d %H:%M}  {escape(c.name)}")
                continue
            report = backfill.run(w, sub, p.candidates, deliver=deliver)
            processed += len(report.processed)
            failed += len(report.failed)
        if dry_run:
            say(console, f"dry run: {total} image(s) would be processed; nothing was")
            return
        w._write_feeds(subs)
    say(console, f"backfill: {processed} of {total} image(s) processed, {failed} failed")
    if failed:
        raise typer.Exit(1)


def start_background_watch(db: str | None, out: Path, interval: float, settle: float = 2.0, host_rate: float = 2.0,
                           model: Path | None = None, report=None, events: bool = True):
    """`sitewatch watch` in a daemon thread beside another service (`serve --watch`), on its
    own catalog connection; returns (thread, stop event). A pass that fails is reported and
    the next one runs at its time, so the watcher never dies quietly beside a live server.
    Setting the stop event ends the loop and stops the folders' observers."""
    import threading

    from sitewatch.detect.model import DetectionModel
    from sitewatch.store import open_catalog
    from sitewatch.watch import Watcher

    tell = report or (lambda line: say(console, line))
    stop = threading.Event()
    m = DetectionModel(model)  # loaded here, so a bad model stops the server before it starts

    def loop() -> None:
        with open_catalog(db) as catalog:
            w = Watcher(catalog, m, out, out / "feeds", settle_s=settle, say=lambda line: tell(f"watch: {line}"),
                        host_rate=host_rate, sleep=lambda seconds: None if stop.wait(seconds) else None,
                        events=events)
            # a pass that fails is reported, and tried again next pass; the server goes on
            w.run_forever(interval, stop.is_set, on_error=lambda exc: tell(
                f"watch: the pass failed ({exc.__class__.__name__}: {exc}); next in {interval:g} s"))

    thread = threading.Thread(target=loop, name="sitewatch-watch", daemon=True)
    thread.start()
    return thread, stop
