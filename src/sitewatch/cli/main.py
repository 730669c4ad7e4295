"""The Typer application. Each stage's commands live in their own module in this package
and are registered here, in pipeline order."""

from __future__ import annotations

import math
import sys

import typer
from rich.console import Console
from rich.text import Text

from sitewatch._version import __version__
from sitewatch.errors import InputError, SitewatchError, missing_extra

app = typer.Typer(
    name="sitewatch",
    help="Watch military sites from orbit: align dates, detect equipment, track it, assess.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)
_state = {"debug": False}

LABEL_STYLES = {"error:": "bold red", "warning:": "yellow", "note:": "yellow", "excluded:": "yellow"}


def say(console: Console, text: object, label: str | None = None) -> None:
    """Print one line as is: paths, names and messages may hold [brackets], which are never
    read as rich markup. label, one of LABEL_STYLES, goes first in its colour."""
    line = Text(str(text)) if label is None else Text.assemble((label, LABEL_STYLES[label]), " ", str(text))
    console.print(line, highlight=False, soft_wrap=True)


def check_range(option: str, value: float | None, low: float, high: float) -> None:
    """InputError naming the option unless value (None: not given) is a number in [low, high]:
    click takes 'nan' and 'inf' as floats, and -3 tiles per batch as an int."""
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise InputError(option, f"must be a number from {low:g} to {high:g}, got {value}")


def _version(value: bool) -> None:
    if value:
        print(f"sitewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    _state["debug"] = debug


def _register() -> None:
    # Each module adds its commands to `app` when imported. Keep this list in pipeline order.
    import importlib

    for module in ("simulate_cmd", "sites_cmd", "ingest_cmd", "images_cmd", "align_cmd", "detect_cmd", "dataset_cmd", "train_cmd",
                   "eval_cmd", "compare_cmd", "assess_cmd", "report_cmd", "run_cmd", "watch_cmd", "alerts_cmd", "demo_cmd",
                   "serve_cmd"):
        importlib.import_module(f"sitewatch.cli.{module}")


_register()


def main() -> None:
    """Entry point: run the app and turn SitewatchError (and an OSError about a path) into one
    line and exit code 1."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        rc = app(standalone_mode=False)
    except SitewatchError as exc:
        if _state["debug"]:
            raise
        say(err_console, exc, "error:")
        sys.exit(1)
    except ModuleNotFoundError as exc:
        extra = missing_extra(exc)
        if extra is None or _state["debug"]:
            raise
        message = f"this command needs the {extra} extra ({exc.name} is not installed): pip install 'sitewatch[{extra}]'"
        say(err_console, message, "error:")
        sys.exit(1)
    except OSError as exc:
        # a path the user gave that the system refuses: below a file, a folder where a file
        # goes, no permission, a full disk; anything else is a bug and keeps its traceback
        if exc.filename is None or _state["debug"]:
            raise
        say(err_console, f"{exc.filename}: {exc.strerror or exc}", "error:")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: typer's own click raises these
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(rc if isinstance(rc, int) else 0)
