"""NinjaOne public API v2 imitation: client-credentials token, organizations,
locations and detailed devices, paged with `pageSize` and `after`.
`SERVER` is its entry in `sandbox.servers.SERVERS`."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, request

from sandbox.servers.base import Controller, Server
from sandbox.servers.common import (
    SharedState,
    drop_socket,
    dumps,
    json_response,
    malformed_copies,
    truncated_response,
)
from sandbox.servers.tokens import AccessTokens, bearer_verdict

__all__ = ["SERVER", "AccessTokens", "blueprint", "create_app"]

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


class NinjaOne:
    """The routes of one NinjaOne server over the shared state."""

    def __init__(
        self, state: SharedState, credentials: Mapping[str, str], tokens: AccessTokens
    ) -> None:
        self.state = state
        self.creds = credentials
        self.tokens = tokens
        self.faults = state.faults[SOURCE]

    def blueprint(self) -> Blueprint:
        bp = Blueprint(SOURCE, __name__)
        bp.add_url_rule(TOKEN_PATH, view_func=self.token, methods=["POST"])
        bp.add_url_rule("/v2/<name>", view_func=self.listing, methods=["GET"])
        bp.add_url_rule("/v2/device/<int:device_id>", view_func=self.device, methods=["GET"])
        return bp

    def token(self) -> Response:
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
        if client_id != self.creds["client_id"] or client_secret != self.creds["client_secret"]:
            return json_response({"error": "invalid_client"}, 401)
        scopes = set((request.form.get("scope") or "monitoring").split())
        if not scopes <= SCOPES:
            return json_response({"error": "invalid_scope"}, 400)
        return json_response(
            {
                "access_token": self.tokens.issue(),
                "expires_in": int(self.tokens.lifetime),
                "scope": " ".join(sorted(scopes)),
                "token_type": "Bearer",
            }
        )

    def authenticate(self) -> Response | None:
        verdict = bearer_verdict(self.tokens, self.faults)
        if verdict != "ok":
            message = "Token expired" if verdict == "expired" else "Unauthorized"
            return ninja_error(401, "UNAUTHORIZED", message)
        return None

    def listing(self, name: str) -> Response:
        refused = self.authenticate()
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
        with self.state.lock:
            records = sorted(self.state.records(attr), key=lambda r: r.get("id") or 0)
            before = [r for r in records if (r.get("id") or 0) <= after]
            items = [r for r in records if (r.get("id") or 0) > after][:page_size]
            page_number = len(before) // page_size + 1
            broken = self.faults.take("malformed_record", request.path) if items else None
            if broken is not None:
                fresh = range(990_000_001, 990_000_010)
                items = items + malformed_copies(
                    items[0], broken["variants"], "id", fresh, ("created", "lastContact")
                )
            body = dumps(items)
        dropped = self.faults.take("drop_connection", request.path, page=page_number)
        if dropped is not None:
            if dropped["mode"] == "no_response":
                drop_socket()
                return Response(b"", status=500)
            return truncated_response(body.encode())
        return Response(body, mimetype="application/json")

    def device(self, device_id: int) -> Response:
        refused = self.authenticate()
        if refused:
            return refused
        with self.state.lock:
            for record in self.state.records("ninja_devices"):
                if record.get("id") == device_id:
                    return json_response(record)
        return ninja_error(404, "NOT_FOUND", f"Device {device_id} not found")


def blueprint(
    state: SharedState, credentials: Mapping[str, str], tokens: AccessTokens | None = None
) -> Blueprint:
    return NinjaOne(state, credentials, tokens or AccessTokens()).blueprint()


def urls(root: str, credentials: Mapping[str, str]) -> dict[str, str]:
    return {"ninjaone": root, "ninjaone_token": root + TOKEN_PATH.lstrip("/")}


SERVER = Server(SOURCE, blueprint, lambda _state: ninja_error, DEFAULT_CREDENTIALS, urls)


def create_app(
    state: SharedState,
    credentials: dict[str, str] | None = None,
    controller: Controller | None = None,
    tokens: AccessTokens | None = None,
) -> Flask:
    return SERVER.create_app(state, credentials, controller, tokens=tokens)
