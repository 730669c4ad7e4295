"""`sitewatch alerts list [--dead]` and `sitewatch alerts replay`: the alerts outbox and its
dead letters (deliveries whose retries ran out), queued again under the same alert id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION
from sitewatch.cli.watch_cmd import period_options
from sitewatch.errors import InputError

console = Console()
alerts_app = typer.Typer(help="Alerts that watched images triggered, and their dead letters.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(site: str = typer.Option(None, "--site", help="Only this site's alerts."),
                dead: bool = typer.Option(False, "--dead", help="Only the dead letters: alerts whose webhook or an "
                                          "e-mail gave up after its retries (oldest first)."),
                limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON (the payloads too)."),
                db: str = DB_OPTION) -> None:
    """List alerts, newest first, with their delivery state."""
    from sitewatch.store import dead_alerts, dead_email_counts, list_alerts, open_catalog
    from sitewatch.watch.subscribe import alert_json

    with open_catalog(db) as catalog:
        alerts = dead_alerts(catalog, site=site)[:limit] if dead else list_alerts(catalog, site=site, limit=limit)
        emails_dead = dead_email_counts(catalog)
    if as_json:
        print(json.dumps([alert_json(a, emails_dead.get(a.id, 0)) for a in alerts], indent=2))
        return
    table = Table(title="dead letters" if dead else "alerts")
    cols = ("created (UTC)", "id", "site", "kind", "alert", "delivery") + (("last error",) if dead else ())
    for col in cols:
        table.add_column(col)
    for a in alerts:
        state = a.delivery + (f" ({a.attempts} tries)" if a.attempts > 1 else "")
        if emails_dead.get(a.id):
            state += f"; {emails_dead[a.id]} e-mail(s) dead"
        if a.replays:
            state += f"; replayed {a.replays}x"
        row = [f"{a.created:%Y-%m-%d %H:%M:%S}", a.id, escape(a.site), a.kind, escape(a.title), state]
        table.add_row(*row, *((escape(a.last_error[:120]),) if dead else ()))
    console.print(table)
    if dead and alerts:
        say(console, "sitewatch alerts replay --id ID (or --since/--until) queues them again", "note:")


@alerts_app.command("replay")
def alerts_replay(ids: list[str] = typer.Option(None, "--id", help="Replay this alert (repeat for more); a webhook "
                                                "already delivered is sent again too."),
                  since: str = typer.Option(None, "--since", help="Replay the dead letters created from this day "
                                            "(or datetime, UTC) on."),
                  until: str = typer.Option(None, "--until", help="... up to this day (or datetime, UTC; default: "
                                            "now)."),
                  site: str = typer.Option(None, "--site", help="With --since: only this site's dead letters."),
                  deliver: bool = typer.Option(False, "--deliver", help="Send what is due now, without waiting for "
                                               "the watcher's next pass."),
                  db: str = DB_OPTION) -> None:
    """Queue dead deliveries again, under the same alert id (the same webhook-id).

    Receivers that had the alert drop the repeat by its id; a delivery still pending is left
    as it is, so replaying twice sends once."""
    from sitewatch.store import dead_alerts, open_catalog, replay_alerts

    if bool(ids) == (since is not None):
        raise InputError("sitewatch alerts replay", "give --id ID (repeat for more) or --since TIME [--until TIME]")
    if since is None and (until is not None or site is not None):
        raise InputError("--until" if until is not None else "--site", "is for --since; give one")
    now = datetime.now(UTC)
    with open_catalog(db) as catalog:
        if since is not None:
            start, end = period_options(since, until)
            ids = [a.id for a in dead_alerts(catalog, start, end, site=site)]
            if not ids:
                say(console, f"no dead letters created {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
                return
        r = replay_alerts(catalog, ids, now, resend=since is None)
        say(console, f"queued again: {len(r.webhooks)} webhook(s), {r.emails} e-mail(s); "
            f"{len(r.pending)} still pending (left as they are), {len(r.nothing)} with nothing to send")
        for aid in r.nothing:
            say(console, f"{aid}: no webhook and no dead e-mail", "note:")
        if deliver:
            _deliver_now(catalog)


def _deliver_now(catalog) -> None:
    from sitewatch.errors import SitewatchError
    from sitewatch.watch.delivery import deliver_due
    from sitewatch.watch.email import SmtpSettings, deliver_emails

    d = deliver_due(catalog)
    say(console, f"webhooks: {d.delivered} delivered, {d.retried} to retry, {d.dead} given up")
    try:
        smtp = SmtpSettings.from_env()
    except SitewatchError as exc:
        say(console, f"e-mails wait: {exc}", "note:")
        return
    if smtp is not None:
        e = deliver_emails(catalog, smtp)
        say(console, f"e-mails: {e.sent} sent, {e.retried} to retry, {e.dead} given up")
