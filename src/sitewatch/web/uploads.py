"""Receiving imagery: streamed to disk in the uploads folder under a generated name, cut
off at the size limit (413), checked to be a georeferenced GeoTIFF (415 for anything
that is not a TIFF raster, 422 for a TIFF without georeferencing), then ingested. A refused
upload leaves nothing behind: the partial file is deleted on every failure path.

The body is either the raw file (Content-Type image/tiff or application/octet-stream) or
multipart/form-data with the file in a part named "file"; both are written chunk by chunk
as they arrive, never held in memory."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import ParseError as MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from rasterio.errors import RasterioError

from sitewatch.geo.imagefile import open_image
from sitewatch.web.problems import Problem

# Multipart framing (boundaries, part headers) on top of the file itself.
MULTIPART_SLACK = 64 * 1024


class _TooLarge(Exception):
    pass


class _Sink:
    """Appends to a file and counts, refusing past the limit."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit, self.size = path, limit, 0
        self.fh = open(path, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge()
        self.fh.write(data)

    def close(self) -> None:
        self.fh.close()


def _multipart_writer(content_type: str, sink: _Sink) -> MultipartParser:
    _, params = parse_options_header(content_type.encode("latin-1"))
    boundary = params.get(b"boundary")
    if not boundary:
        raise Problem(400, "multipart upload without a boundary")
    state = {"field": b"", "value": b"", "headers": {}, "writing": False, "found": False}

    def on_part_begin():
        state["headers"], state["writing"] = {}, False

    def on_header_field(data, start, end):
        state["field"] += data[start:end]

    def on_header_value(data, start, end):
        state["value"] += data[start:end]

    def on_header_end():
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished():
        disp = state["headers"].get(b"content-disposition", b"").decode("latin-1")
        name = re.search(r'\bname="([^"]*)"', disp)
        state["writing"] = bool(name and name.group(1) == "file" and not state["found"])
        state["found"] = state["found"] or state["writing"]

    def on_part_data(data, start, end):
        if state["writing"]:
            sink.write(data[start:end])

    def on_part_end():
        state["writing"] = False

    parser = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                                        "on_header_value": on_header_value, "on_header_end": on_header_end,
                                        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
                                        "on_part_end": on_part_end})
    parser.found = lambda: state["found"]  # type: ignore[attr-defined]
    return parser


def _feed(parser: MultipartParser, chunk: bytes | None) -> None:
    """Give the parser the next chunk (None: the body ended); a body that breaks the
    multipart framing is the client's error, a 400 naming what the parser found."""
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except MultipartParseError as exc:
        raise Problem(400, f"malformed multipart body ({exc})") from None


# The body types the upload endpoint documents; none declared is taken as raw bytes. The
# file's content still decides whether it is an image (`check_geotiff`).
UPLOAD_TYPES = ("image/tiff", "application/octet-stream", "multipart/form-data")


async def receive(request: Request, folder: Path, limit: int) -> Path:
    """Stream the request body into folder/.partial-<uuid>; returns that path. 415 for a
    body type the endpoint does not take, 413 past the limit, 400 for a body with no file
    or broken multipart framing;
    the partial file is removed on any failure."""
    declared_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared_type and declared_type not in UPLOAD_TYPES:
        raise Problem(415, f"an upload is sent as {', '.join(UPLOAD_TYPES)} (part 'file'), not {declared_type!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
        raise Problem(413, f"upload of {int(declared)} bytes is over the limit of {limit} bytes")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".partial-{uuid.uuid4().hex}"
    sink = _Sink(partial, limit)
    ctype = request.headers.get("content-type", "")
    try:
        parser = _multipart_writer(ctype, sink) if ctype.lower().startswith("multipart/form-data") else None
        async for chunk in request.stream():
            if parser is not None:
                _feed(parser, chunk)
            else:
                sink.write(chunk)
        if parser is not None:
            _feed(parser, None)
            if not parser.found():  # type: ignore[attr-defined]
                raise Problem(400, "multipart upload has no part named 'file'")
        if sink.size == 0:
            raise Problem(400, "the upload is empty")
    except _TooLarge:
        sink.close()
        partial.unlink(missing_ok=True)
        raise Problem(413, f"upload is over the limit of {limit} bytes") from None
    except BaseException:
        sink.close()
        partial.unlink(missing_ok=True)
        raise
    sink.close()
    return partial


def check_geotiff(path: Path) -> None:
    """415 unless the file is a TIFF raster GDAL can read; 422 if it has no georeferencing.
    Opened as every user image is (geo.imagefile): VRTs and other indirect formats fail here."""
    try:
        with open_image(path) as ds:
            driver, crs, transform = ds.driver, ds.crs, ds.transform
            gcps = ds.gcps[0]
    except (RasterioError, OSError):
        raise Problem(415, "the upload is not a raster GeoTIFF") from None
    if driver != "GTiff":
        raise Problem(415, f"the upload is a {driver} raster, not a GeoTIFF")
    if crs is None or (transform.is_identity and not gcps):
        raise Problem(422, "the upload is a TIFF without georeferencing (no CRS or geotransform)")


def keep(partial: Path) -> Path:
    """Give a checked upload its final generated name in the same folder."""
    final = partial.with_name(f"{uuid.uuid4().hex}.tif")
    os.replace(partial, final)
    return final
