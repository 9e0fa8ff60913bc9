"""One JSON error shape for every 4xx and 5xx: {"error", "code", "error_code"}.

The handlers are registered on the QBR blueprint only, never on the host app:
mounted into an existing Flask app, the QBR API must not change how the host's
own routes answer errors. Unknown paths under the QBR prefix reach the
blueprint through its catch-all route (see `api.blueprint`), so they are JSON
too. Nothing but the message is ever sent: no HTML, no stack trace.
"""

from __future__ import annotations

import json
import logging

import psycopg
from flask import Blueprint, Response
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException

from qbr.periods import PeriodError

log = logging.getLogger("qbr.api")

#: error_code for the HTTP errors Werkzeug raises itself.
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    409: "CONFLICT",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    501: "NOT_IMPLEMENTED",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """An error the API answers on purpose; `extra` adds fields (valid_keys, batch_id)."""

    def __init__(self, status: int, error_code: str, message: str, headers=None, /, **extra):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}
        self.extra = extra


NUL = "\x00"


def nul_byte_error(where: str) -> ApiError:
    return ApiError(
        400,
        "NUL_BYTE",
        f"The request's {where} contains a NUL byte (\\u0000), which no field may hold.",
    )


def refuse_nul_bytes() -> None:
    """400 for a NUL byte in the path or anywhere in the query string (names and
    values, after percent-decoding). PostgreSQL text cannot hold NUL, so such a
    value must never reach a query; JSON bodies are checked in `api.spec.parse_body`."""
    from flask import request

    if NUL in request.path:
        raise nul_byte_error("path")
    for name, values in request.args.lists():
        if NUL in name or any(NUL in value for value in values):
            raise nul_byte_error(f"query parameter {name.replace(NUL, '?')!r}")


def find_nul(value: object, where: str = "$") -> str | None:
    """The JSON path of the first string (or object key) holding a NUL byte, or None."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                return f"{where} (a key)"
            found = find_nul(item, f"{where}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_nul(item, f"{where}[{index}]")
            if found:
                return found
    return None


def error_response(
    status: int, error_code: str, message: str, headers=None, /, **extra
) -> Response:
    body = {"error": message, "code": status, "error_code": error_code, **extra}
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _from_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    message = {
        413: "The request body is too large.",
        404: "Not found.",
    }.get(status, exc.description or exc.name or "Error")
    return error_response(status, HTTP_CODES.get(status, "HTTP_ERROR"), message, headers)


def _from_database(exc: psycopg.Error) -> Response:
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName):
        log.warning("marts missing: %s", exc)
        return error_response(
            503,
            "MARTS_NOT_BUILT",
            "The qbr marts have not been built yet: run a refresh (`qbr refresh`).",
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        log.error("the API role lacks a privilege: %s", exc)
        return error_response(
            503,
            "MARTS_NOT_READABLE",
            "The API's database role may not read the marts (re-run the grants).",
        )
    if isinstance(exc, psycopg.OperationalError):
        log.error("database unavailable: %s", type(exc).__name__)
        return error_response(503, "DATABASE_UNAVAILABLE", "The database is unavailable.")
    log.exception("database error")
    return error_response(500, "INTERNAL_ERROR", "Internal server error.")


def register_error_handlers(bp: Blueprint) -> None:
    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.error_code, exc.message, exc.headers, **exc.extra)

    @bp.errorhandler(PeriodError)
    def _period_error(exc: PeriodError):  # qbr.periods: 400 INVALID_PERIOD naming the param
        return error_response(exc.status, exc.error_code, exc.message, **exc.extra)

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return _from_http(exc)

    @bp.errorhandler(PoolTimeout)
    def _pool_timeout(exc: PoolTimeout):
        log.error("no database connection available in time")
        return error_response(503, "DATABASE_UNAVAILABLE", "The database is busy; retry shortly.")

    @bp.errorhandler(psycopg.Error)
    def _db_error(exc: psycopg.Error):
        return _from_database(exc)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "Internal server error.")
