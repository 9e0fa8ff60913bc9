"""What every imitation server shares. A server is a `Server`: its routes as a
Flask blueprint (built per app from the shared state and its credentials), its
error shape, its default credentials and its URLs. `Server.create_app` puts the
blueprint into an app with the common wiring: request counting, the generic
faults (down, slow, rate_limit, server_error), error pages in the API's own
shape and the `/_sandbox/` control API."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from sandbox.servers.common import SharedState, drop_socket, json_response

CONTROL_PREFIX = "/_sandbox/"

# error(status, code, message, headers) -> Response in the API's error shape
ErrorFn = Callable[..., Response]


class Controller(Protocol):
    def advance(self, days: float) -> Any: ...
    def fault(self, source: str, kind: str, **opts: Any) -> dict: ...
    def clear_faults(self, source: str | None = None, kind: str | None = None) -> None: ...
    def status(self) -> dict: ...


@dataclass(frozen=True)
class Server:
    """One imitation server. `blueprint(state, credentials, **options)` builds its
    routes; `errors(state)` gives its `ErrorFn`; `urls(root, credentials)` the
    addresses a client needs once it listens at `root` (`http://host:port/`)."""

    name: str
    blueprint: Callable[..., Blueprint]
    errors: Callable[[SharedState], ErrorFn]
    default_credentials: Mapping[str, str]
    urls: Callable[[str, Mapping[str, str]], dict[str, str]]

    def credentials(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self.default_credentials, **(overrides or {})}

    def create_app(
        self,
        state: SharedState,
        credentials: Mapping[str, str] | None = None,
        controller: Controller | None = None,
        **options: Any,
    ) -> Flask:
        """A WSGI app serving this server alone over `state`."""
        app = Flask(f"sandbox.{self.name}")
        install_common(app, state, self.name, self.errors(state), controller)
        app.register_blueprint(self.blueprint(state, self.credentials(credentials), **options))
        return app


def loopback_only() -> Response | None:
    """The refusal for a control call from anywhere but loopback, else None."""
    if not _loopback(request.remote_addr):
        return json_response({"error": "control API is loopback-only"}, 403)
    return None


def _loopback(addr: str | None) -> bool:
    try:
        return addr is not None and ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def install_common(
    app: Flask,
    state: SharedState,
    source: str,
    error: ErrorFn,
    controller: Controller | None,
) -> None:
    faults = state.faults[source]

    @app.before_request
    def _faults_first() -> Response | None:
        path = request.path
        if path.startswith(CONTROL_PREFIX):
            return None
        state.count_request(source)
        down = faults.take("down", path)
        if down is not None:
            if down["mode"] == "503":
                return error(503, "ServiceUnavailable", "The service is unavailable.")
            drop_socket()
            return Response(b"", status=503)
        slow = faults.take("slow", path)
        if slow is not None:
            state.sleep(slow["seconds"])
        limited = faults.take("rate_limit", path)
        if limited is not None:
            return error(
                429,
                "TooManyRequests",
                "Request rate limit exceeded; retry later.",
                headers={"Retry-After": str(limited["retry_after"])},
            )
        failed = faults.take("server_error", path)
        if failed is not None:
            return error(failed["status"], "InternalServerError", "An unexpected error occurred.")
        return None

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code == 404:
            return error(404, "NotFound", f"The resource {request.path} was not found.")
        if exc.code == 405:
            return error(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
        return error(exc.code or 500, exc.name.replace(" ", ""), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        app.logger.exception("sandbox %s crashed on %s", source, request.path)
        return error(500, "InternalServerError", f"{type(exc).__name__}: {exc}")

    if controller is not None:
        app.register_blueprint(control_blueprint(source, controller))


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def control_blueprint(source: str, controller: Controller) -> Blueprint:
    """`/_sandbox/status|advance|fault|clear`: steer the sandbox from another process.
    Only loopback callers; a `source` field in the body targets another server."""
    bp = Blueprint("sandbox_control", __name__, url_prefix=CONTROL_PREFIX.rstrip("/"))
    bp.before_request(loopback_only)

    @bp.get("/status")
    def _status() -> Response:
        return json_response(controller.status())

    @bp.post("/advance")
    def _advance() -> Response:
        try:
            days = float(_body().get("days", 1))
        except (TypeError, ValueError):
            return json_response({"error": "days must be a number"}, 400)
        if days < 0:
            return json_response({"error": "days must not be negative"}, 400)
        days = int(days) if days.is_integer() else days
        result = controller.advance(days)
        return json_response({"advanced_days": days, "result": result, **controller.status()})

    @bp.post("/fault")
    def _fault() -> Response:
        opts = _body()
        kind = opts.pop("kind", None)
        target = opts.pop("source", None) or source
        if not kind:
            return json_response({"error": "kind is required"}, 400)
        try:
            fault = controller.fault(target, kind, **opts)
        except (ValueError, KeyError) as exc:
            return json_response({"error": str(exc).strip("'\"")}, 400)
        return json_response({"source": target, "fault": fault})

    @bp.post("/clear")
    def _clear() -> Response:
        opts = _body()
        try:
            controller.clear_faults(opts.get("source"), opts.get("kind"))
        except KeyError as exc:
            return json_response({"error": f"unknown source {exc}"}, 400)
        return json_response(controller.status())

    return bp
