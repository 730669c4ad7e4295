"""What the web app is configured with: the catalog, the data folder, the write token and
the upload limit. Read from the environment by `from_env`, or built directly in tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sitewatch.errors import InputError
from sitewatch.store.catalog import ENV_VAR as CATALOG_ENV

TOKEN_ENV = "SITEWATCH_TOKEN"
DATA_ENV = "SITEWATCH_DATA"
UPLOAD_LIMIT_ENV = "SITEWATCH_UPLOAD_LIMIT_MB"
HOSTS_ENV = "SITEWATCH_ALLOWED_HOSTS"
CLUSTER_ENV = "SITEWATCH_CLUSTER"
# The names a server on a loopback address answers to: a page elsewhere whose own name
# resolves to 127.0.0.1 (DNS rebinding) sends its name in Host and is refused.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
DEFAULT_DATA_DIR = Path("sitewatch-data")
# A 30000 x 30000 px 3-band uint8 scene is 2.7 GB uncompressed; COGs are DEFLATE-compressed,
# so 4 GiB covers the largest single scene we expect from a vendor.
DEFAULT_UPLOAD_LIMIT = 4 * 1024 ** 3
# The write token is the only thing between an anonymous client and the catalog's writes:
# short ones can be guessed (16 characters of token_urlsafe carry 96 bits).
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class WebSettings:
    """db: a SQLite path or database URL (None: $SITEWATCH_DB, else the default file).
    data_dir: the only folder the app reads files from or writes files to (uploads,
    reports); imagery paths that the catalog records elsewhere are read but never written.
    token: the Bearer token that write endpoints demand; None disables every write.
    allowed_hosts: the Host header values answered (others get 400); None answers any.
    cluster: where jobs detect: a Dask address as `sitewatch run --cluster` takes it
    (`local[:N]`, `tcp://HOST:PORT`); None detects in the server's process."""

    data_dir: Path = DEFAULT_DATA_DIR
    db: str | None = None
    token: str | None = None
    upload_limit_bytes: int = DEFAULT_UPLOAD_LIMIT
    allowed_hosts: tuple[str, ...] | None = None
    cluster: str | None = None

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"


def from_env(db: str | None = None, data_dir: str | os.PathLike | None = None) -> WebSettings:
    """Settings from the arguments, else SITEWATCH_DB / SITEWATCH_DATA / SITEWATCH_TOKEN /
    SITEWATCH_UPLOAD_LIMIT_MB / SITEWATCH_ALLOWED_HOSTS / SITEWATCH_CLUSTER. With neither --db
    nor SITEWATCH_DB, the catalog is the one in the data folder, so `--data sitewatch-demo`
    serves the demo."""
    folder = Path(data_dir or os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()
    limit = DEFAULT_UPLOAD_LIMIT
    raw = os.environ.get(UPLOAD_LIMIT_ENV)
    if raw:
        try:
            limit = int(float(raw) * 1024 * 1024)
        except ValueError:
            raise InputError(UPLOAD_LIMIT_ENV, f"must be a number of megabytes, got {raw!r}") from None
        if limit <= 0:
            raise InputError(UPLOAD_LIMIT_ENV, f"must be positive, got {raw!r}")
    token = os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise InputError(TOKEN_ENV, f"must be at least {MIN_TOKEN_CHARS} characters, got {len(token)} (make one with "
                                    "python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if db is None and not os.environ.get(CATALOG_ENV):
        db = str(folder / "catalog.db")  # the data folder's own catalog, as every command defaults to
    hosts = tuple(h.strip() for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()) or None
    cluster = os.environ.get(CLUSTER_ENV) or None
    if cluster is not None:
        check_cluster(cluster)
    return WebSettings(data_dir=folder, db=db, token=token, upload_limit_bytes=limit, allowed_hosts=hosts,
                       cluster=cluster)


def check_cluster(address: str) -> None:
    """A Dask address jobs can use, or one line naming SITEWATCH_CLUSTER and the problem."""
    try:
        from sitewatch.detect import cluster  # noqa: PLC0415  (the cluster extra: Dask, only where asked for)
    except ModuleNotFoundError as exc:
        raise InputError(CLUSTER_ENV, f"needs the cluster extra ({exc.name} is not installed): "
                                      "pip install 'sitewatch[cluster]'") from exc
    try:
        cluster.parse_cluster(address)
    except InputError as exc:
        raise InputError(CLUSTER_ENV, exc.problem) from exc
