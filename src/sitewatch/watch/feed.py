"""An Atom feed (RFC 4287) of a site's alerts, newest first, for any feed reader.

Each alert is one entry: its id is a URN of the alert id (stable, so readers never show an
alert twice), its title says what happened, and its content is the headline or the event
with the image it was seen on. The file is written by staging and renaming, so a reader
never sees half a feed.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.store import Alert

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"


def _stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(alert: Alert) -> str:
    data = alert.payload.get("data", {})
    if alert.kind == "posture":
        return str(data.get("posture", {}).get("headline", alert.title))
    if alert.kind == "retraction":
        old, by = data.get("retracted", {}), data.get("revised_by") or []
        return (f"retracts alert {old.get('alert_id')} (event {old.get('event_id')}): {data.get('why', '')}"
                + (f"; revised by alert {', '.join(by)}" if by else ""))
    e = data.get("event", {})
    return (f"{e.get('kind', '')} {e.get('class', '')} {e.get('type', '')} in zone {e.get('zone') or '-'}, "
            f"confidence {e.get('confidence')}, between images {e.get('before_image')} and {e.get('after_image')}"
            + (f": {e['note']}" if e.get("note") else "")
            + (f" (revises alert {', '.join(data['revises'])})" if data.get("revises") else ""))


def atom_feed(site: str, alerts: Sequence[Alert], self_url: str | None = None) -> bytes:
    """The feed document for a site's alerts (any order in; newest first out)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:sitewatch:site:{site}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = f"sitewatch alerts: {site}"
    newest = max((a.created for a in alerts), default=datetime(1970, 1, 1, tzinfo=UTC))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(newest)
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "sitewatch"
    if self_url:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url, type=MEDIA_TYPE)
    for a in sorted(alerts, key=lambda x: (x.created, x.id), reverse=True):
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:sitewatch:alert:{a.id}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = a.title
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(a.created)
        ET.SubElement(entry, f"{{{ATOM}}}category", term=a.kind)
        ET.SubElement(entry, f"{{{ATOM}}}content", type="text").text = _text(a)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def write_feed(path: str | Path, document: bytes) -> bool:
    """Write the feed if it differs from the file there; returns whether it was written."""
    path = Path(path)
    if path.exists() and path.read_bytes() == document:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(document)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return True
