"""The token store the OAuth2 imitations share: expiring bearer access tokens
(QuickBooks and NinjaOne), QuickBooks' rotating refresh tokens, and the bearer
check every protected request makes (including the `expired_token` fault)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from flask import request

from sandbox.servers.faults import Faults

REFRESH_TOKEN_LIFETIME = 100 * 24 * 3600
#: access tokens remembered at most (the oldest are forgotten first): a long-running
#: sandbox answered with one token per refresh must not grow without bound
MAX_ACCESS_TOKENS = 10_000


class AccessTokens:
    """Bearer access tokens that expire `lifetime` seconds after they are issued."""

    def __init__(self, lifetime: float = 3600, prefix: str = "", nbytes: int = 40) -> None:
        self.lifetime = lifetime
        self.prefix = prefix
        self.nbytes = nbytes
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry

    def issue(self) -> str:
        token = self.prefix + secrets.token_urlsafe(self.nbytes)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.lifetime
            while len(self.tokens) > MAX_ACCESS_TOKENS:
                self.tokens.pop(next(iter(self.tokens)))
        return token

    def check(self, token: str) -> str:
        """'ok', 'expired' or 'invalid'."""
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "invalid"
        return "ok" if time.monotonic() < expiry else "expired"

    def expire(self, token: str) -> None:
        with self.lock:
            if token in self.tokens:
                self.tokens[token] = 0.0


def bearer_verdict(tokens: AccessTokens, faults: Faults) -> str:
    """'ok', 'expired' or 'invalid' for this request's `Authorization: Bearer`;
    an `expired_token` fault expires a valid token on the spot."""
    header = request.headers.get("Authorization", "")
    access = header[7:].strip() if header[:7].lower() == "bearer " else ""
    verdict = tokens.check(access) if access else "invalid"
    if verdict == "ok" and faults.take("expired_token", request.path) is not None:
        tokens.expire(access)
        verdict = "expired"
    return verdict


class RotatingTokens(AccessTokens):
    """OAuth2 refresh-token grant as QuickBooks runs it: every exchange retires the
    presented refresh token and issues a new one with a new access token."""

    def __init__(
        self,
        initial_refresh_token: str,
        access_lifetime: float = 3600,
        persist_to: Path | None = None,
        grace_seconds: float = 0.0,
    ) -> None:
        super().__init__(access_lifetime, prefix="eyJsandbox.", nbytes=48)
        self.persist_to = persist_to
        #: 0 = strict (a rotated refresh token dies at once); else how long it still works
        self.grace_seconds = grace_seconds
        #: rotated refresh token -> (its successor, monotonic time of the rotation)
        self.rotated: dict[str, tuple[str, float]] = {}
        #: every refresh-token grant received (accepted or not)
        self.exchanges = 0
        self.refresh_tokens: set[str] = {initial_refresh_token}
        self.latest_refresh_token = initial_refresh_token
        self._restore()

    @property
    def access_lifetime(self) -> float:
        return self.lifetime

    @property
    def access(self) -> dict[str, float]:
        return self.tokens

    def _restore(self) -> None:
        if self.persist_to is None or not self.persist_to.exists():
            return
        try:
            saved = json.loads(self.persist_to.read_text())["refresh_token"]
        except (OSError, ValueError, KeyError, TypeError):
            saved = None
        if saved:
            # A restarted sandbox honours both its initial token and the newest
            # one it handed out, so a pipeline that persisted it keeps working.
            self.refresh_tokens.add(saved)
            self.latest_refresh_token = saved

    def refresh(self, refresh_token: str, grace: float | None = None) -> dict[str, Any] | None:
        """Rotate: the presented refresh token is retired, a new one issued. Within the
        grace period (lenient provider) a retired token is answered with the successor
        it already got, as long as that successor is still the current one."""
        grace = self.grace_seconds if grace is None else grace
        with self.lock:
            self.exchanges += 1
            new_refresh = self._rotate(refresh_token, grace)
            if new_refresh is None:
                return None
            self.latest_refresh_token = new_refresh
            self._persist()
        return {
            "access_token": self.issue(),
            "expires_in": int(self.lifetime),
            "refresh_token": new_refresh,
            "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
            "token_type": "bearer",
        }

    def _rotate(self, refresh_token: str, grace: float) -> str | None:
        if refresh_token in self.refresh_tokens:
            self.refresh_tokens.discard(refresh_token)
            new_refresh = "AB11" + secrets.token_urlsafe(36)
            self.refresh_tokens.add(new_refresh)
            self.rotated[refresh_token] = (new_refresh, time.monotonic())
            if len(self.rotated) > 1000:
                self.rotated.pop(next(iter(self.rotated)))
            return new_refresh
        successor, when = self.rotated.get(refresh_token, (None, 0.0))
        fresh = grace > 0 and time.monotonic() - when < grace
        if successor is None or not fresh or successor not in self.refresh_tokens:
            return None
        return successor

    def _persist(self) -> None:
        if self.persist_to is None:
            return
        tmp = self.persist_to.with_suffix(".tmp")
        tmp.write_text(json.dumps({"refresh_token": self.latest_refresh_token}))
        tmp.replace(self.persist_to)
