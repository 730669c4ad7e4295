"""Errors as JSON problem documents (RFC 9457): type, title, status, detail, instance.

Every error the app returns goes through here, including validation errors and unexpected
exceptions; a traceback never reaches the client (it goes to the server log)."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sitewatch.errors import CatalogError, InputError, SitewatchError

log = logging.getLogger("sitewatch.web")
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """Raise in a route to answer with a problem document."""

    def __init__(self, status: int, detail: str, title: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}


def problem_response(request: Request, status: int, detail: str, title: str | None = None,
                     headers: dict | None = None, extra: dict | None = None) -> JSONResponse:
    body = {"type": "about:blank", "title": title or HTTPStatus(status).phrase, "status": status,
            "detail": detail, "instance": request.url.path}
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def declare_problem_media_type(schema: dict) -> dict:
    """The OpenAPI document with every error response (4xx, 5xx) declared as MEDIA_TYPE, the
    type these handlers send: FastAPI declares a response model as application/json."""
    for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
        for status, response in operation.get("responses", {}).items():
            content = response.get("content", {})
            if str(status)[:1] in "45" and "application/json" in content:
                content[MEDIA_TYPE] = content.pop("application/json")
    return schema


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document, and declare them
    so in the OpenAPI document."""
    build_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problem_media_type(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem):
        return problem_response(request, exc.status, exc.detail, exc.title, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(request, 422, f"invalid request ({where})", extra={"errors": errors})

    @app.exception_handler(CatalogError)
    async def _catalog(request: Request, exc: CatalogError):
        # The catalog refuses what it does not hold ("no site named ...", "no event ...").
        status = 404 if str(exc).startswith("no ") else 409
        return problem_response(request, status, str(exc))

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return problem_response(request, 422, str(exc))

    @app.exception_handler(SitewatchError)
    async def _sitewatch(request: Request, exc: SitewatchError):
        return problem_response(request, 422, str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "the server failed on this request; the error is in its log")
