"""The file versions each watch source has taken or turned away, so none is taken twice.

A version is its path, size, modification time (ns) and SHA-256. The watcher skips a file
whose path, size and modification time a row already holds without reading it again; the
SHA-256 goes into the row (and the unique key), and is the image's checksum. A row is written
inside the transaction that stores the file's results (`record_file`), so a crash before that
commit leaves the file untaken, and a restart takes it again.

A remote static STAC catalog's documents are kept too (`WatchedDocument`: validators,
checksum, links), written only after the items they list are recorded as taken, so a crash
or a failure in between leaves the old validators, and the next read walks the document again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitewatch.store.catalog import Catalog
from sitewatch.store.models import WatchedDocumentRow, WatchedFileRow


@dataclass(frozen=True)
class FileVersion:
    path: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


def taken_versions(catalog: Catalog, source_id: int) -> set[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every version the source has processed or refused."""
    with catalog.reading() as s:
        rows = s.execute(select(WatchedFileRow.path, WatchedFileRow.size, WatchedFileRow.mtime_ns)
                         .where(WatchedFileRow.source_id == source_id)).all()
        return {(p, int(n), int(t)) for p, n, t in rows}


def record_file(session: Session, source_id: int, version: FileVersion, sha256: str, status: str,
                image_id: str | None = None, message: str = "") -> None:
    """Write a version as taken, inside the caller's transaction (it commits with the results);
    the unique key makes a second writer of the same version fail, and so roll back."""
    session.add(WatchedFileRow(source_id=source_id, path=version.path, size=version.size, mtime_ns=version.mtime_ns,
                               sha256=sha256, status=status, image_id=image_id, message=message,
                               seen=datetime.now(UTC).replace(tzinfo=None)))
    session.flush()


def refuse_file(catalog: Catalog, source_id: int, version: FileVersion, sha256: str, message: str) -> None:
    """Record a version that will not be taken (not of the site, a copy of another image)."""
    with catalog.transaction() as s:
        record_file(s, source_id, version, sha256, "refused", message=message)


def watched_files(catalog: Catalog, source_id: int) -> list[dict]:
    """The source's rows, oldest first, as plain dicts (for listings and tests)."""
    with catalog.reading() as s:
        rows = s.scalars(select(WatchedFileRow).where(WatchedFileRow.source_id == source_id)
                         .order_by(WatchedFileRow.id)).all()
        return [{"path": r.path, "size": r.size, "mtime_ns": r.mtime_ns, "sha256": r.sha256, "status": r.status,
                 "image_id": r.image_id, "message": r.message} for r in rows]


@dataclass(frozen=True)
class WatchedDocument:
    """A remote catalog document as last read whole: its validators (None where the server
    gave none), the SHA-256 of its body, and the absolute URLs it links to."""

    url: str
    etag: str | None
    last_modified: str | None
    sha256: str
    children: tuple[str, ...] = field(default=())
    items: tuple[str, ...] = field(default=())


def watched_documents(catalog: Catalog, source_id: int) -> dict[str, WatchedDocument]:
    """The source's documents by URL."""
    with catalog.reading() as s:
        rows = s.scalars(select(WatchedDocumentRow).where(WatchedDocumentRow.source_id == source_id)).all()
        return {r.url: WatchedDocument(r.url, r.etag, r.last_modified, r.sha256,
                                       tuple(r.links.get("children", ())), tuple(r.links.get("items", ())))
                for r in rows}


def save_documents(catalog: Catalog, source_id: int, documents: Iterable[WatchedDocument]) -> None:
    """Store (insert or replace) the documents, in one transaction."""
    docs = list(documents)
    if not docs:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    with catalog.transaction() as s:
        rows = {r.url: r for r in s.scalars(select(WatchedDocumentRow).where(
            WatchedDocumentRow.source_id == source_id, WatchedDocumentRow.url.in_([d.url for d in docs]))).all()}
        for d in docs:
            links = {"children": list(d.children), "items": list(d.items)}
            row = rows.get(d.url)
            if row is None:
                s.add(WatchedDocumentRow(source_id=source_id, url=d.url, etag=d.etag, last_modified=d.last_modified,
                                         sha256=d.sha256, links=links, checked=now))
            else:
                row.etag, row.last_modified, row.sha256, row.links, row.checked = (
                    d.etag, d.last_modified, d.sha256, links, now)
