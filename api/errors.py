"""One JSON error shape for every 4xx and 5xx: {"error", "code", "error_code"}."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("qbr.api")


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str, **extra):
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.extra = extra


def error_response(status: int, error_code: str, message: str, **extra):
    body = {"error": message, "code": status, "error_code": error_code, **extra}
    return jsonify(body), status


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "HTTP_ERROR").upper().replace(" ", "_").replace("'", "")


def register_error_handlers(bp: Blueprint) -> None:
    @bp.app_errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.error_code, exc.message, **exc.extra)

    @bp.app_errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return error_response(exc.code or 500, _http_code(exc), exc.description or exc.name)

    @bp.app_errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "INTERNAL_ERROR", "Internal server error")
