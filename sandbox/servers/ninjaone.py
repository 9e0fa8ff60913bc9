"""NinjaOne public API v2 imitation: client-credentials token, organizations,
locations and detailed devices, paged with `pageSize` and `after`."""

from __future__ import annotations

import base64
import secrets
import threading
import time
import uuid

from flask import Flask, Response, request

from sandbox.servers.base import Controller, install_common
from sandbox.servers.common import (
    SharedState,
    drop_socket,
    dumps,
    json_response,
    malformed_copies,
    truncated_response,
)

SOURCE = "ninjaone"
TOKEN_PATH = "/ws/oauth/token"
DEFAULT_CREDENTIALS = {
    "client_id": "sandbox-ninja-client-id-0001",
    "client_secret": "sandbox-ninja-client-secret-0001",
}
DEFAULT_PAGE_SIZE = 1000
SCOPES = {"monitoring", "management", "control", "offline_access"}
LISTS = {
    "organizations": "ninja_organizations",
    "locations": "ninja_locations",
    "devices-detailed": "ninja_devices",
    "devices": "ninja_devices",
}


def ninja_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if request.path == TOKEN_PATH:
        return json_response({"error": code, "error_description": message}, status, headers)
    body = {"resultCode": code, "errorMessage": message, "incidentId": str(uuid.uuid4())}
    return json_response(body, status, headers)


class AccessTokens:
    def __init__(self, lifetime: float = 3600) -> None:
        self.lifetime = lifetime
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}

    def issue(self) -> str:
        token = secrets.token_urlsafe(40)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.lifetime
        return token

    def check(self, token: str) -> str:
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "invalid"
        return "ok" if time.monotonic() < expiry else "expired"

    def expire(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token] = 0.0


def create_app(
    state: SharedState,
    credentials: dict[str, str] | None = None,
    controller: Controller | None = None,
    tokens: AccessTokens | None = None,
) -> Flask:
    creds = {**DEFAULT_CREDENTIALS, **(credentials or {})}
    tokens = tokens or AccessTokens()
    faults = state.faults[SOURCE]
    app = Flask(f"sandbox.{SOURCE}")
    install_common(app, state, SOURCE, ninja_error, controller)

    @app.post(TOKEN_PATH)
    def token() -> Response:
        client_id = request.form.get("client_id")
        client_secret = request.form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic " and not client_id:
            try:
                client_id, _, client_secret = (
                    base64.b64decode(header[6:].strip()).decode().partition(":")
                )
            except (ValueError, UnicodeDecodeError):
                client_id = None
        if request.form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if client_id != creds["client_id"] or client_secret != creds["client_secret"]:
            return json_response({"error": "invalid_client"}, 401)
        scopes = set((request.form.get("scope") or "monitoring").split())
        if not scopes <= SCOPES:
            return json_response({"error": "invalid_scope"}, 400)
        return json_response(
            {
                "access_token": tokens.issue(),
                "expires_in": int(tokens.lifetime),
                "scope": " ".join(sorted(scopes)),
                "token_type": "Bearer",
            }
        )

    def authenticate() -> Response | None:
        header = request.headers.get("Authorization", "")
        access = header[7:].strip() if header[:7].lower() == "bearer " else ""
        verdict = tokens.check(access) if access else "invalid"
        if verdict == "ok" and faults.take("expired_token", request.path) is not None:
            tokens.expire(access)
            verdict = "expired"
        if verdict != "ok":
            message = "Token expired" if verdict == "expired" else "Unauthorized"
            return ninja_error(401, "UNAUTHORIZED", message)
        return None

    @app.get("/v2/<name>")
    def listing(name: str) -> Response:
        refused = authenticate()
        if refused:
            return refused
        attr = LISTS.get(name)
        if attr is None:
            return ninja_error(404, "NOT_FOUND", f"Unknown resource /v2/{name}")
        try:
            page_size = int(request.args.get("pageSize") or DEFAULT_PAGE_SIZE)
            after = int(request.args.get("after") or 0)
        except ValueError:
            return ninja_error(400, "INVALID_PARAMETER", "pageSize and after must be integers")
        if page_size < 1:
            return ninja_error(400, "INVALID_PARAMETER", "pageSize must be positive")
        with state.lock:
            records = sorted(state.records(attr), key=lambda r: r.get("id") or 0)
            before = [r for r in records if (r.get("id") or 0) <= after]
            items = [r for r in records if (r.get("id") or 0) > after][:page_size]
            page_number = len(before) // page_size + 1
            broken = faults.take("malformed_record", request.path) if items else None
            if broken is not None:
                fresh = range(990_000_001, 990_000_010)
                items = items + malformed_copies(
                    items[0], broken["variants"], "id", fresh, ("created", "lastContact")
                )
            body = dumps(items)
        dropped = faults.take("drop_connection", request.path, page=page_number)
        if dropped is not None:
            if dropped["mode"] == "no_response":
                drop_socket()
                return Response(b"", status=500)
            return truncated_response(body.encode())
        return Response(body, mimetype="application/json")

    @app.get("/v2/device/<int:device_id>")
    def device(device_id: int) -> Response:
        refused = authenticate()
        if refused:
            return refused
        with state.lock:
            for record in state.records("ninja_devices"):
                if record.get("id") == device_id:
                    return json_response(record)
        return ninja_error(404, "NOT_FOUND", f"Device {device_id} not found")

    return app
