"""A small OpenID Connect provider for the tests: discovery, authorize, token, JWKS.

Real HTTP on a free local port (werkzeug in a thread), real RS256 signatures
(joserfc). `user` chooses who signs in; `mode` makes the next ID token wrong
in one way: bad_signature (signed by another key under the same kid),
wrong_nonce, expired, wrong_aud. Authorization codes are one-time and
checked against the PKCE challenge and the client's secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class Provider:
    def __init__(self, client_id: str = "qbr-dashboard", client_secret: str = "s3cret"):
        self.client_id, self.client_secret = client_id, client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.user = "alice@msp.example"
        self.mode: str | None = None
        self.codes: dict[str, dict] = {}
        self.token_requests = 0
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- endpoints ------------------------------------------------------------------------------

    def _json(self, body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    @Request.application
    def _app(self, request: Request) -> Response:
        if request.path == "/.well-known/openid-configuration":
            return self._json(
                {
                    "issuer": self.url,
                    "authorization_endpoint": self.url + "/authorize",
                    "token_endpoint": self.url + "/token",
                    "jwks_uri": self.url + "/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )
        if request.path == "/jwks":
            return self._json(KeySet([self.key]).as_dict(private=False))
        if request.path == "/authorize":
            q = request.args
            if q.get("client_id") != self.client_id or q.get("response_type") != "code":
                return self._json({"error": "invalid_request"}, 400)
            if q.get("code_challenge_method") != "S256" or not q.get("nonce"):
                return self._json({"error": "invalid_request"}, 400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": q["nonce"],
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
                "user": self.user,
            }
            target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q["state"]})
            return Response(status=302, headers={"Location": target})
        if request.path == "/token" and request.method == "POST":
            self.token_requests += 1
            auth = request.authorization
            if not auth or (auth.username, auth.password) != (self.client_id, self.client_secret):
                return self._json({"error": "invalid_client"}, 401)
            f = request.form
            grant = self.codes.pop(f.get("code", ""), None)
            if grant is None or f.get("redirect_uri") != grant["redirect_uri"]:
                return self._json({"error": "invalid_grant"}, 400)
            digest = hashlib.sha256(f.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return self._json({"error": "invalid_grant", "error_description": "pkce"}, 400)
            return self._json(
                {"access_token": "at", "token_type": "Bearer", "id_token": self._id_token(grant)}
            )
        return self._json({"error": "not_found"}, 404)

    def _id_token(self, grant: dict) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "sub-" + grant["user"],
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "email": grant["user"],
            "email_verified": True,
        }
        key = self.key
        if self.mode == "bad_signature":
            key = self.other_key
        elif self.mode == "wrong_nonce":
            claims["nonce"] = "not-" + grant["nonce"]
        elif self.mode == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 600
        elif self.mode == "wrong_aud":
            claims["aud"] = "someone-else"
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
