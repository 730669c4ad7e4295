"""`sitewatch serve`: the analyst's web app and REST API over the catalog."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer

from sitewatch.cli.main import app, say
from sitewatch.cli.sites_cmd import DB_OPTION


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
          port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
          data: Path = typer.Option(None, "--data", help="Data folder for uploads and reports "
                                    "(default: $SITEWATCH_DATA, else ./sitewatch-data)."),
          sample: bool = typer.Option(False, "--sample", help="First write a small sample site into the data "
                                      "folder and serve it (for trying the app)."),
          watch: bool = typer.Option(False, "--watch", help="Also run `sitewatch watch` beside the server, on "
                                     "the same catalog (reports in DATA/watch)."),
          watch_interval: float = typer.Option(60.0, "--watch-interval", help="Seconds between the watcher's "
                                               "polls (with --watch)."),
          watch_events: bool = typer.Option(True, "--watch-events/--no-watch-events", help="With --watch: watch "
                                            "local folders for file-system events too (--no-watch-events: "
                                            "polling only)."),
          db: str = DB_OPTION) -> None:
    """Serve the web app and REST API (writes need SITEWATCH_TOKEN; OpenAPI at /api/openapi.json)."""
    import uvicorn
    from rich.console import Console

    from sitewatch.web import create_app, from_env
    from sitewatch.web.server import server_config
    from sitewatch.web.settings import HOSTS_ENV, LOOPBACK_HOSTS

    console = Console(stderr=True)
    settings = from_env(db=db, data_dir=data)
    if sample:
        from sitewatch.web.sample import build_sample

        db_path = settings.data_dir / "catalog.db"
        if not db_path.exists():
            say(console, f"writing the sample site into {settings.data_dir} ...")
            build_sample(settings.data_dir, str(db_path))
        settings = replace(settings, db=str(db_path))
    if settings.allowed_hosts is None and host in LOOPBACK_HOSTS:
        settings = replace(settings, allowed_hosts=LOOPBACK_HOSTS)
    elif settings.allowed_hosts is None:
        say(console, f"any Host header is answered: set {HOSTS_ENV} to the names this server is reached by",
            label="note:")
    if not settings.token:
        console.print("[yellow]note:[/] SITEWATCH_TOKEN is not set: the app is read-only (writes answer 401)")
    say(console, f"sitewatch on http://{host}:{port}/  (data folder {settings.data_dir})")
    watcher = None
    if watch:
        from sitewatch.cli.main import check_range
        from sitewatch.cli.watch_cmd import start_background_watch

        check_range("--watch-interval", watch_interval, 0.1, 86400.0)
        watcher = start_background_watch(settings.db, settings.data_dir / "watch", watch_interval,
                                         report=lambda line: say(console, line), events=watch_events)
        say(console, f"watching the subscriptions every {watch_interval:g} s (reports in {settings.data_dir / 'watch'})")
    try:
        uvicorn.Server(server_config(create_app(settings), host, port)).run()
    finally:
        if watcher is not None:
            watcher[1].set()
            watcher[0].join(30)  # a take cut short here is taken again by the next watcher
