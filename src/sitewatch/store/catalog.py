"""Opening the catalog: where it lives, the engine, transactions and schema upgrades.

The catalog is a SQLite file by default (./sitewatch-data/catalog.db), or whatever the
SITEWATCH_DB variable or an explicit argument names: a file path or a database URL
(postgresql+psycopg://user@host/db). Opening a catalog upgrades its schema to the newest
migration, so a catalog written by an older sitewatch keeps working.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.errors import CatalogError

DEFAULT_PATH = Path("sitewatch-data") / "catalog.db"
ENV_VAR = "SITEWATCH_DB"


def catalog_url(url_or_path: str | os.PathLike | None = None) -> str:
    """The database URL for an explicit argument, else $SITEWATCH_DB, else the default file."""
    target = url_or_path if url_or_path not in (None, "") else os.environ.get(ENV_VAR) or DEFAULT_PATH
    target = str(target)
    if "://" in target:
        if target.startswith("postgresql://"):  # plain URLs get the psycopg 3 driver
            target = "postgresql+psycopg://" + target[len("postgresql://"):]
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def _server_engine(url: str) -> Engine:
    """The engine for a database server's URL, or a CatalogError naming the URL (its password
    hidden) when SQLAlchemy knows no such database or cannot read the URL."""
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        shown = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)
        raise CatalogError(f"{shown}: not a catalog sitewatch can open ({exc}); give a SQLite file path or a "
                           "postgresql://user@host/db URL") from None


class Catalog:
    """An open catalog: an engine and a session factory. Use transaction() for writes."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = Path(url[len("sqlite:///"):])
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"{path.parent}: cannot create the catalog folder ({exc.strerror})") from exc
            self.engine: Engine = create_engine(url, connect_args={"timeout": 60})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = _server_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with self._sessions() as session:
            with session.begin():
                yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.engine.url.render_as_string(hide_password=True)!r})"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    # Rollback journal with full sync: a killed writer leaves the file as it was before the
    # transaction, which the next opener rolls back.
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _migrations_dir() -> str:
    return str(resources.files("sitewatch.store") / "migrations")


def head_revision() -> str:
    return str(ScriptDirectory(_migrations_dir()).get_current_head())


def current_revision(catalog: Catalog) -> str | None:
    with catalog.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


@contextmanager
def _migration_lock(catalog: Catalog) -> Iterator[None]:
    """Serialise schema upgrades between processes opening the same SQLite file at once
    (PostgreSQL takes an advisory lock inside the migration's transaction instead)."""
    if not catalog.is_sqlite:
        yield
        return
    # fcntl is POSIX-only: module level would stop the catalog (PostgreSQL too) importing on Windows
    import fcntl  # noqa: PLC0415

    lock_path = catalog.url[len("sqlite:///"):] + ".lock"
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_MIGRATION_LOCK_KEY = 0x5157  # any constant shared by every sitewatch process


def upgrade(catalog: Catalog) -> None:
    """Bring the schema to the newest migration (no-op when it is there already). Safe
    when several processes open a new catalog at the same moment."""
    head = head_revision()
    if current_revision(catalog) == head:
        return
    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    with _migration_lock(catalog):
        with catalog.engine.begin() as conn:
            if not catalog.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")  # re-reads the version under the lock


def open_catalog(url_or_path: str | os.PathLike | None = None) -> Catalog:
    """Open (creating if needed) and upgrade the catalog named by the argument, else by
    $SITEWATCH_DB, else ./sitewatch-data/catalog.db."""
    url = catalog_url(url_or_path)
    catalog = Catalog(url)
    try:
        upgrade(catalog)
    except CatalogError:
        catalog.close()
        raise
    except Exception as exc:  # driver errors: unreachable server, not a database file
        catalog.close()
        raise CatalogError(f"{catalog!r}: cannot open the catalog ({exc.__class__.__name__}: {exc})") from exc
    return catalog
