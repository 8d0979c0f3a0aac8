"""Errors as RFC 9457 ``application/problem+json`` documents with a precise ``detail``.

Every error the service returns has ``type`` (a stable URI reference naming the kind of
problem), ``title``, ``status``, ``detail`` (one line: what is wrong and how to fix it) and
``instance`` (the request path).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from models.errors import InputError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("pogoscope.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None


class ProblemError(Exception):
    """Raise from anywhere in the service to answer with a problem document."""

    def __init__(self, status: int, slug: str, detail: str, *, field: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.slug, self.detail, self.field, self.headers = status, slug, " ".join(detail.split()), field, headers


def problem_response(request: Request, status: int, slug: str, detail: str, *, field: str | None = None, headers=None) -> JSONResponse:
    body = Problem(
        type=f"/problems/{slug}" if slug else "about:blank",
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        field=field,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


# responses= entry for OpenAPI: every route may answer with a problem document
PROBLEM_RESPONSES = {
    code: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": _TITLES[code]}
    for code in (401, 403, 404, 409, 413, 422)
}


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError):
        return problem_response(request, exc.status, exc.slug, exc.detail, field=exc.field, headers=exc.headers)

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError):
        return problem_response(request, 422, "invalid-input", str(exc), field=exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errs = exc.errors()
        err = errs[0] if errs else {"loc": (), "msg": "invalid request"}
        loc = [str(x) for x in err.get("loc", ())]
        where = loc[0] if loc else "request"
        name = ".".join(loc[1:]) or where
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        return problem_response(request, 422, "invalid-request", f"{where} field '{name}': {msg}{more}", field=name)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(request, exc.status_code, slug, detail, headers=getattr(exc, "headers", None))

    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def _shttp(request: Request, exc: StarletteHTTPException):
        return await _http(request, HTTPException(exc.status_code, exc.detail, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "internal-error", f"internal error: {type(exc).__name__}; see the service log")
