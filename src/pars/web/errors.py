"""Domain errors -> the contract's error body, in one place (CONTRACT section 4).

Rule: no stack trace, SQL or personal value ever reaches a response; anything
unexpected is a 500 with the generic error body.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pars.agreements.approval_note import ApprovalRefused
from pars.agreements.service import Conflict
from pars.audit.reader import LogMismatch
from pars.errors import ConfigError, InvalidInput, NotFound, ParsError
from pars.gate.errors import (
    Forbidden,
    NotImplementedYet,
    TooLarge,
    Unauthorized,
    Unavailable,
    code_for,
    error_body,
)

log = logging.getLogger("pars.web")

#: THE map from a domain error to its HTTP status (the code comes from the error itself).
STATUS: list[tuple[type[ParsError], int]] = [
    (Unauthorized, 401),
    (Forbidden, 403),
    (ApprovalRefused, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooLarge, 413),
    (InvalidInput, 422),
    (NotImplementedYet, 501),
    (LogMismatch, 500),
    (Unavailable, 503),
    (ConfigError, 503),
]


def status_of(exc: ParsError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_response(status: int, code: str, message: str, rule: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, rule), status_code=status, headers=headers)


async def _pars_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ParsError)
    status = status_of(exc)
    message = str(exc)
    if isinstance(exc, ConfigError):
        log.error("configuration error: %s", exc)
        message = "the service is not configured to answer; the operator has been told"
    return error_response(status, exc.code, message, getattr(exc, "rule", None))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header"))
    return error_response(422, "invalid", f"{loc or 'request'}: {first.get('msg', 'invalid')}")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, code_for(exc.status_code), message)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "internal", "internal error; nothing was answered")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ParsError, _pars_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
