"""Authentication for the three APIs.

- ConnectWise: HTTP Basic `companyId+publicKey` / `privateKey` (dlt's
  `HttpBasicAuth`); the `clientId` header is set by the source.
- QuickBooks Online: OAuth2 refresh-token grant with *rotating* refresh tokens.
  Every refresh may hand out a new refresh token and retire the old one, so
  the newest one is written to `qbr_app.source_credentials` the moment it
  arrives, before it is used (`TokenStore`), and preferred next time over the
  configured one. The exchange is never resent blindly (a timed-out exchange
  may have rotated the token): see `QuickBooksOAuth2._exchange`.
- NinjaOne: OAuth2 client credentials (dlt's `OAuth2ClientCredentials`).

Both OAuth2 flavours refresh the access token when it is due and, when the
server still answers 401 (a token expired mid-run), refresh once and resend
the request (`_ResendOn401`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from dlt.sources.helpers.rest_client.auth import (
    HttpBasicAuth,
    OAuth2AuthBase,
    OAuth2ClientCredentials,
)
from psycopg.types.json import Jsonb
from requests import PreparedRequest, Response

from dlt_pipelines.errors import ReauthorizationRequired, SourceError
from dlt_pipelines.http import error_text, oauth_message, quickbooks_message
from qbr import db

log = logging.getLogger("dlt_pipelines.auth")

#: how early (seconds) an access token is renewed before it expires
EXPIRY_MARGIN = 60
#: renew-and-resend at most this often per request when the server answers 401
MAX_RESENDS = 2
#: attempts of a token request that provably was not processed (no connection, 429)
TOKEN_SAFE_ATTEMPTS = 4
#: attempts to store a newly issued refresh token
STORE_ATTEMPTS = 3

QBO_REAUTHORIZE = (
    "re-authorize the app (Intuit developer portal / OAuth 2.0 Playground, scope "
    "com.intuit.quickbooks.accounting) and put the new refresh token in "
    "SOURCES__QUICKBOOKS__REFRESH_TOKEN (or sources.quickbooks.refresh_token in "
    ".dlt/secrets.toml), then run `qbr refresh --sources quickbooks`"
)


def connectwise_auth(company_id: str, public_key: str, private_key: str) -> HttpBasicAuth:
    return HttpBasicAuth(username=f"{company_id}+{public_key}", password=private_key)


class _ResendOn401:
    """Mixin for token auths: on 401, renew the access token and resend (bounded)."""

    _lock: threading.RLock
    access_token: Any

    def renew(self) -> None:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def _bearer(self) -> str:
        return f"Bearer {self.access_token}"

    def _attach(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = self._bearer()
        request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: Response, **kwargs: Any) -> Response | None:
        request = response.request
        resent = getattr(request, "_qbr_resent", 0)
        if response.status_code != 401 or resent >= MAX_RESENDS:
            return None
        with self._lock:
            if request.headers.get("Authorization") == self._bearer():
                log.info("access token refused (401); renewing and resending once")
                self.renew()
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = self._bearer()
        retry._qbr_resent = resent + 1  # type: ignore[attr-defined]
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        # the resent request's own 401 gets the same treatment (nested, bounded)
        return self._on_response(again, **kwargs) or again


# --- QuickBooks Online -----------------------------------------------------------


class TokenStore(Protocol):
    """Where the newest refresh token lives between runs."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, data: dict[str, Any]) -> None: ...


class MemoryTokenStore:
    """For tools and tests that have no warehouse database."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data

    def load(self) -> dict[str, Any] | None:
        return dict(self.data) if self.data else None

    def save(self, data: dict[str, Any]) -> None:
        self.data = dict(data)


class DbTokenStore:
    """`qbr_app.source_credentials(source, data jsonb)`: one row per source."""

    def __init__(self, settings: Any, source: str) -> None:
        self.settings = settings
        self.source = source

    def load(self) -> dict[str, Any] | None:
        with db.connect(self.settings) as conn:
            row = conn.execute(
                "select data from qbr_app.source_credentials where source = %s",
                (self.source,),
            ).fetchone()
        return dict(row[0]) if row else None

    def save(self, data: dict[str, Any]) -> None:
        with db.connect(self.settings) as conn:
            conn.execute(
                "insert into qbr_app.source_credentials (source, data, updated_at) "
                "values (%s, %s, now()) on conflict (source) do update "
                "set data = excluded.data, updated_at = now()",
                (self.source, Jsonb(data)),
            )


def fingerprint(token: str | None) -> str | None:
    """Identifies a configured token without storing it (sha256, shortened)."""
    if not token:
        return None
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class QuickBooksOAuth2(_ResendOn401, OAuth2AuthBase):
    """Refresh-token grant against Intuit's token endpoint, persisting rotations.

    The token used is the stored one when it was derived from the currently
    configured token (same realm, same configured-token fingerprint); a newly
    configured token (the operator re-authorized) wins over an old stored one.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        realm_id: str,
        refresh_token: str | None = None,
        store: TokenStore | None = None,
        session: Any = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__()
        self.timeout = timeout  # of the token request; None: RUNTIME__REQUEST_TIMEOUT
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.realm_id = str(realm_id)
        self.configured_token = refresh_token or None
        self.store = store or MemoryTokenStore()
        self.expires_at = 0.0
        self.refreshes = 0
        self._lock = threading.RLock()
        self._session = session
        self._stored_token: str | None = None
        #: set once the provider refused every token: later renewals (other threads,
        #: a 401 mid-run) re-raise it instead of asking again
        self._refused: ReauthorizationRequired | None = None
        self.refresh_token, self.token_origin = self._choose_refresh_token()

    # -- which refresh token ----------------------------------------------------
    def _choose_refresh_token(self) -> tuple[str, str]:
        stored = self.store.load() or {}
        token = stored.get("refresh_token")
        same_realm = str(stored.get("realm_id") or self.realm_id) == self.realm_id
        derived = stored.get("configured_fingerprint") == fingerprint(self.configured_token)
        self._stored_token = token if same_realm else None
        if self._stored_token and (derived or not self.configured_token):
            return self._stored_token, "stored"
        if self.configured_token:
            return self.configured_token, "configured"
        raise ReauthorizationRequired(f"QuickBooks has no refresh token: {QBO_REAUTHORIZE}")

    def _fallback(self) -> tuple[str, str] | None:
        """The other candidate when the preferred token was refused: the configured
        one after a stored one (a restored backup), or the stored one after a
        configured one (a reverted configuration)."""
        if self.token_origin == "stored" and self.configured_token:
            candidate = (self.configured_token, "configured")
        elif self.token_origin == "configured" and self._stored_token:
            candidate = (self._stored_token, "stored")
        else:
            return None
        return candidate if candidate[0] != self.refresh_token else None

    # -- requests auth ------------------------------------------------------------
    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        with self._lock:
            if self.access_token is None or time.monotonic() >= self.expires_at:
                self.renew()
        return self._attach(request)

    def renew(self) -> None:
        """Refresh-token grant; the new refresh token is stored before it is used."""
        with self._lock:
            if self._refused is not None:  # the grant is dead: say so again, ask no more
                raise self._refused
            try:
                body = self._exchange(self.refresh_token)
            except ReauthorizationRequired as first:
                self._refused = first
                fallback = self._fallback()
                if fallback is None:
                    raise
                log.warning("%s QuickBooks refresh token refused; trying the %s one",
                            self.token_origin, fallback[1])  # fmt: skip
                try:
                    body = self._exchange(fallback[0])
                except ReauthorizationRequired:
                    raise first from None  # what happened to the token in use says more
                self._refused = None
                self.token_origin = fallback[1]
            # durably first: from here on only the new refresh token may be valid
            self._store_issued(body)
            self.refresh_token = body.get("refresh_token") or self.refresh_token
            self.access_token = body["access_token"]
            self.expires_at = time.monotonic() + float(body.get("expires_in") or 3600)
            self.expires_at -= EXPIRY_MARGIN
            self.refreshes += 1

    # -- the exchange ---------------------------------------------------------------
    def _record(self, refresh_token: str, **extra: Any) -> dict[str, Any]:
        return {
            "refresh_token": refresh_token,
            "realm_id": self.realm_id,
            "configured_fingerprint": fingerprint(self.configured_token),
            **extra,
        }

    def _store_issued(self, body: dict[str, Any]) -> None:
        """Save the newly issued refresh token (retrying a failed save: it may be the
        only valid credential there is)."""
        record = self._record(
            body.get("refresh_token") or self.refresh_token,
            refresh_token_expires_in=body.get("x_refresh_token_expires_in"),
            rotated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        for attempt in range(STORE_ATTEMPTS):
            try:
                self.store.save(record)
                return
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                if attempt + 1 == STORE_ATTEMPTS:
                    raise SourceError(
                        "QuickBooks issued a new refresh token but it could not be stored "
                        f"({type(exc).__name__}: {str(exc).strip()[:200]}); if the next run "
                        f"fails with invalid_grant: {QBO_REAUTHORIZE}"
                    ) from exc
                time.sleep(0.5 * (attempt + 1))

    def _exchange(self, refresh_token: str) -> dict[str, Any]:
        """One refresh-token exchange, never resent blindly.

        Before the request the store notes that an exchange of this token started
        (so a process killed mid-exchange leaves a trace). Resent only when the
        request provably did not reach the server (no connection) or was refused
        unprocessed (429). When the outcome is unknown (a timeout after sending, a
        dropped connection, a 5xx) the same token is offered once more, on purpose:
        a lenient provider (the old token valid for a grace period, or answering
        with the same new token) hands over the new token and nothing is lost; a
        strict one answers invalid_grant, which then means exactly that the token
        was rotated and its successor lost: re-authorize.
        """
        stored = self.store.load() or {}
        fp = fingerprint(refresh_token)
        interrupted = (
            stored.get("exchange_started_at") if stored.get("exchange_token") == fp else None
        )
        kept = {k: v for k, v in stored.items() if k in ("refresh_token_expires_in", "rotated_at")}
        self.store.save(
            self._record(
                refresh_token,
                **kept,
                exchange_started_at=interrupted or datetime.now(UTC).isoformat(timespec="seconds"),
                exchange_token=fp,
            )
        )
        try:
            return self._grant(refresh_token)
        except ExchangeOutcomeUnknown as unknown:
            log.warning(
                "QuickBooks token exchange outcome unknown (%s); offering the same refresh "
                "token once more (a lenient provider answers with the new one)",
                unknown,
            )
            first = str(unknown)
        except ReauthorizationRequired as refused:
            if not interrupted:  # a definite refusal: no exchange is in doubt any more
                self.store.save(self._record(refresh_token, **kept))
            else:
                raise ReauthorizationRequired(
                    f"QuickBooks refused the refresh token (invalid_grant) after an earlier "
                    f"token exchange (started {interrupted}) was interrupted before its answer "
                    f"arrived: QuickBooks rotated the token then and the new one was lost; "
                    f"{QBO_REAUTHORIZE}"
                ) from refused
            raise
        try:
            return self._grant(refresh_token)
        except ReauthorizationRequired as refused:
            raise ReauthorizationRequired(
                f"QuickBooks token exchange {first}, and QuickBooks now refuses the refresh "
                "token it used (invalid_grant): it rotated the token but the answer carrying "
                f"the new one never arrived, so the credential is lost; {QBO_REAUTHORIZE}"
            ) from refused
        except ExchangeOutcomeUnknown as again:
            raise SourceError(
                f"QuickBooks token endpoint: outcome unknown twice ({first}; then {again}); "
                "the stored refresh token is kept and may still be valid: run "
                "`qbr refresh --sources quickbooks` again later"
            ) from again

    def _post(self, refresh_token: str) -> Response:
        """POST the grant; retries only what provably was not processed."""
        import requests

        if self._session is None:
            self._session = requests.Session()
        timeout = self.timeout if self.timeout is not None else _request_timeout()
        for attempt in range(1, TOKEN_SAFE_ATTEMPTS + 1):
            last = attempt == TOKEN_SAFE_ATTEMPTS
            try:
                response = self._session.post(
                    self.token_url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(self.client_id, self.client_secret),
                    headers={"Accept": "application/json"},
                    timeout=timeout,
                )
            except requests.ConnectionError as exc:
                if _never_sent(exc):
                    if last:
                        raise SourceError(
                            f"cannot reach the QuickBooks token endpoint {self.token_url} "
                            f"after {attempt} attempts: {type(exc).__name__}"
                        ) from exc
                    time.sleep(min(2**attempt * 0.25, 10))
                    continue
                raise ExchangeOutcomeUnknown(
                    f"lost its connection after sending ({type(exc).__name__})"
                ) from exc
            except requests.Timeout as exc:
                raise ExchangeOutcomeUnknown(f"timed out after {timeout} s") from exc
            if response.status_code == 429 and not last:
                time.sleep(min(_retry_after(response), 30.0))
                continue
            if response.status_code >= 500:
                raise ExchangeOutcomeUnknown(f"answered {response.status_code}")
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _grant(self, refresh_token: str) -> dict[str, Any]:
        response = self._post(refresh_token)
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise ExchangeOutcomeUnknown("answered 200 without a readable body") from exc
        message = error_text(response, quickbooks_message)
        if "invalid_grant" in message:
            raise ReauthorizationRequired(
                f"QuickBooks refused the refresh token (invalid_grant): {QBO_REAUTHORIZE}"
            )
        if "invalid_client" in message:
            raise SourceError(
                "QuickBooks refused the client id/secret (invalid_client): check "
                "SOURCES__QUICKBOOKS__CLIENT_ID and SOURCES__QUICKBOOKS__CLIENT_SECRET"
            )
        raise SourceError(f"QuickBooks token endpoint answered {response.status_code}: {message}")


class ExchangeOutcomeUnknown(SourceError):
    """The token request was sent but no usable answer came back: it may have rotated."""


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached the server (connecting failed)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectionRefusedError):
            return True
        stack += [getattr(current, "reason", None), current.__cause__, *current.args[:1]]
    return False


def _retry_after(response: Response) -> float:
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


def _request_timeout() -> float:
    """dlt's `RUNTIME__REQUEST_TIMEOUT` (seconds), the timeout of every other request."""
    try:
        from dlt.sources.helpers.requests import Client

        value = Client(raise_for_status=False).session.timeout
        if isinstance(value, tuple):
            value = value[-1]
        return float(value) if value else 60.0
    except Exception:  # noqa: BLE001
        return 60.0


# --- NinjaOne -----------------------------------------------------------------------


class NinjaOneAuth(_ResendOn401, OAuth2ClientCredentials):
    """Client-credentials grant (scope `monitoring`), renewed on expiry or 401."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str) -> None:
        super().__init__(
            access_token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            access_token_request_data={"scope": scope},
        )
        self._lock = threading.RLock()
        self._token_session: Any = None

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        with self._lock:
            if self.access_token is None or self.is_token_expired():
                self.renew()
        return self._attach(request)

    def renew(self) -> None:
        with self._lock:
            if self._token_session is None:
                from dlt.sources.helpers.requests import Client

                self._token_session = Client(raise_for_status=False).session
            response = self._token_session.post(
                self.access_token_url, **self.build_access_token_request()
            )
            if response.status_code != 200:
                message = error_text(response, oauth_message)
                raise SourceError(
                    f"NinjaOne token endpoint answered {response.status_code}: {message}"
                )
            body = response.json()
            self.access_token = body["access_token"]
            seconds = self.parse_expiration_in_seconds(body)
            from dlt.common.pendulum import pendulum

            self.token_expiry = pendulum.now().add(seconds=max(seconds - EXPIRY_MARGIN, 1))
