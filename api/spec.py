"""Operations: the one place a route's inputs, outputs, scope and caching are declared.

`@operation(...)` on a view names its request and response shapes (pydantic
models declared beside the view, see `api.shapes`), records its OpenAPI
description and, at request time, validates the query string and the JSON body
against the same JSON Schema, answers 304 for a matching ETag and sets the ETag.
The `/openapi.json` document is generated from the app's URL map and these
declarations (components: the models the routes name), so the spec, the
validation and the routes cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, wraps
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, request
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import etag
from api.cache import Cached
from api.db import get_conn
from api.errors import ApiError, find_nul, nul_byte_error
from api.shapes import Error
from qbr.periods import MONTH_PATTERN, QUARTER_PATTERN

API_VERSION = "1.0.0"
CACHE_KEY = "qbr_response_cache"
#: Largest JSON body accepted (bytes); larger answers 413.
DEFAULT_MAX_BODY = 64 * 1024
PERIOD_PATTERNS = {MONTH_PATTERN, QUARTER_PATTERN}

ERROR_TEXT = {
    400: "Invalid parameter or body",
    401: "Missing, invalid or revoked API key or session",
    403: "The key's scope is too small, or the CSRF token is missing",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Body is not application/json",
    500: "Unexpected error (JSON, never a stack trace)",
    503: "Database unavailable or marts not built",
}


REF = "#/components/schemas/{model}"


def ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def components(models) -> dict[str, dict]:
    """JSON Schema of `models` and of every model they use, by class name."""
    unique = {m.__name__: m for m in models}
    _, top = models_json_schema([(m, "validation") for m in unique.values()], ref_template=REF)
    return top.get("$defs", {})


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    #: the success body's shape (a pydantic model declared beside the view)
    response: type[BaseModel] | None
    status: int = 200
    #: Other success statuses with the same body (201 created / 200 replaced).
    alt_status: tuple[int, ...] = ()
    params: tuple[dict, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    #: "public" (no key), "read", "admin"; key_only: a session cookie is not enough.
    scope: str = "read"
    key_only: bool = False
    cache: bool = False
    errors: tuple[int, ...] = ()
    description: str = ""
    #: Other media types of the success response: {"text/csv": {schema}}.
    media: dict[str, dict] = field(default_factory=dict)


def operation(**kwargs) -> Callable:
    params = kwargs.pop("params", ())
    op = Operation(params=tuple(params), **kwargs)

    query_params = [p for p in op.params if p["in"] == "query"]
    checkers = {p["name"]: Draft202012Validator(p["schema"]) for p in query_params}

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(**path_args):
            extra: dict[str, Any] = {}
            if query_params:
                extra["query"] = parse_query(query_params, checkers)
            if op.body:
                extra["body"] = parse_body(op.body, required=op.body_required)
            if not op.cache:
                return view(**path_args, **extra)
            tag = g.get("qbr_tag") or etag.current(get_conn())
            if request.if_none_match.contains_weak(tag):
                return _conditional(Response(status=304), tag)
            cache = current_app.extensions.get(CACHE_KEY)
            key = (tag, request.path, request.query_string)
            hit = cache.get(key) if cache is not None else None
            if hit is not None:
                resp = Response(hit.body, status=hit.status, content_type=hit.content_type)
                resp.headers.extend(hit.headers)
                return _conditional(resp, tag)
            resp = current_app.make_response(view(**path_args, **extra))
            if cache is not None and resp.status_code == 200 and not resp.is_streamed:
                kept = tuple((k, v) for k, v in resp.headers.items() if k == "Content-Disposition")
                cache.put(key, Cached(resp.get_data(), 200, resp.content_type, kept))
            return _conditional(resp, tag)

        wrapped.qbr_operation = op
        return wrapped

    return decorator


def _conditional(resp: Response, tag: str) -> Response:
    resp.set_etag(tag)
    resp.headers["Cache-Control"] = "private, no-cache"
    return resp


def operation_of(endpoint: str | None) -> Operation | None:
    view = current_app.view_functions.get(endpoint) if endpoint else None
    return getattr(view, "qbr_operation", None)


# --- validation ----------------------------------------------------------------


@cache
def validator(model: type[BaseModel]) -> Draft202012Validator:
    """A JSON Schema validator for a request shape (the schema the document shows)."""
    return Draft202012Validator({**ref(model), "components": {"schemas": components([model])}})


def _message(error) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"${where}: {error.message}" if where else error.message


def _coerce(raw: str, schema: dict) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        if not re.fullmatch(r"[+-]?[0-9]{1,12}", raw.strip()):
            raise ValueError("an integer")
        return int(raw)
    if kind == "boolean":
        lowered = raw.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError("true or false")
    return raw


def parse_query(params: list[dict], checkers: dict[str, Draft202012Validator]) -> dict[str, Any]:
    """The query string as typed values, checked against the declared parameter schemas."""
    out: dict[str, Any] = {}
    args = request.args
    for param in params:
        name, schema = param["name"], param["schema"]
        raw = args.get(name)
        if raw is None:
            if param.get("required"):
                raise ApiError(400, "MISSING_PARAMETER", f"{name} is required.", param=name)
            out[name] = schema.get("default")
            continue
        code = "INVALID_PERIOD" if schema.get("pattern") in PERIOD_PATTERNS else "INVALID_PARAMETER"
        try:
            value = _coerce(raw, schema)
        except ValueError as exc:
            raise ApiError(400, code, f"{name} must be {exc} (got {raw!r}).", param=name) from None
        checker = checkers[name]
        if checker.is_valid(value):
            out[name] = value
            continue
        error = best_match(checker.iter_errors(value))
        if error is not None:
            hint = param.get("description", "")
            raise ApiError(
                400, code, f"{name}={raw!r} is invalid: {error.message}. {hint}".strip(), param=name
            )
        out[name] = value
    return out


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_body(model: type[BaseModel], *, required: bool = True) -> Any:
    limit = current_app.config.get("QBR_MAX_BODY", DEFAULT_MAX_BODY)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The body may be at most {limit} bytes.")
    data = request.get_data(cache=True)
    if len(data) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"The body may be at most {limit} bytes.")
    if not data and not required and not request.mimetype:
        body: Any = {}
    else:
        if request.mimetype != "application/json":
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send the body as application/json (got {request.mimetype or 'no content type'}).",
            )
        if not data and not required:
            body = {}
        else:
            try:
                body = json.loads(data, parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                raise ApiError(
                    400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}"
                ) from None
    nul_at = find_nul(body)
    if nul_at is not None:
        raise nul_byte_error(f"body at {nul_at}")
    error = best_match(validator(model).iter_errors(body))
    if error is not None:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid body: {_message(error)}")
    return body


def dumps(payload: Any) -> bytes:
    """JSON bytes with orjson (serializing large responses with Python's json cost more
    than the query). Values are JSON types already (api.db.number / iso)."""
    return orjson.dumps(payload)


def json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    body = dumps(payload)
    resp = Response(body, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


# --- the OpenAPI document --------------------------------------------------------

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def _error_content() -> dict:
    return {"application/json": {"schema": ref(Error)}}


def _operation_object(op: Operation, endpoint: str, method: str) -> dict:
    params = list(op.params)
    out: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        out["description"] = op.description
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": ref(op.body)}},
        }
    success: dict[str, Any] = {"description": op.summary}
    content = {}
    if op.response:
        content["application/json"] = {"schema": ref(op.response)}
    content.update(op.media)
    if content:
        success["content"] = content
    if op.cache:
        success["headers"] = {"ETag": {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(op.status): success}
    for alt in op.alt_status:
        responses[str(alt)] = {**success, "description": f"{op.summary} ({alt})"}
    if op.cache:
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
    # 400 on every route: a NUL byte in the path or query is refused everywhere
    codes = set(op.errors) | {400, 500, 503}
    if op.body:
        codes |= {413, 415}
    if op.scope != "public":
        codes.add(401)
        if op.scope == "admin" or method not in ("GET", "HEAD"):
            codes.add(403)
    for code in sorted(codes):
        responses[str(code)] = {
            "description": ERROR_TEXT.get(code, "Error"),
            "content": _error_content(),
        }
    out["responses"] = responses
    if op.scope == "public":
        out["security"] = []
    elif op.key_only:
        out["security"] = [{"ApiKey": []}, {"Bearer": []}]
    if op.scope == "admin":
        out["description"] = (out.get("description", "") + " Needs an admin key.").strip()
    return out


def build_openapi(app: Flask) -> dict:
    paths: dict[str, dict] = {}
    models: list[type[BaseModel]] = [Error]
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op = getattr(app.view_functions.get(rule.endpoint), "qbr_operation", None)
        if op is None:
            continue
        models += [m for m in (op.response, op.body) if m is not None]
        path = _CONVERTER.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation_object(
                op, rule.endpoint, method
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "QBR warehouse API",
            "version": API_VERSION,
            "description": (
                "Quarterly-business-review metrics, SmartNumbers, thresholds and manual "
                "entries over the qbr marts. Every error is JSON "
                '`{"error", "code", "error_code"}`. Send the key as `X-API-Key` or '
                "`Authorization: Bearer`; the dashboard exchanges it for a session cookie "
                "(POST /session) and then sends `X-CSRF-Token` on writes."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components(models),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
                "Session": {"type": "apiKey", "in": "cookie", "name": "qbr_session"},
            },
        },
        "security": [{"ApiKey": []}, {"Bearer": []}, {"Session": []}],
    }


def openapi_document(app: Flask) -> dict:
    doc = app.extensions.get("qbr_openapi")
    if doc is None:
        doc = app.extensions["qbr_openapi"] = build_openapi(app)
    return doc
