"""HTTP plumbing shared by the sources: a dlt `RESTClient` whose errors carry the
server's own message.

Retries come from dlt's session (`dlt.sources.helpers.requests`): 429, 5xx,
dropped connections and timeouts are retried with exponential backoff,
honouring `Retry-After`, as configured by `RUNTIME__REQUEST_MAX_ATTEMPTS`,
`RUNTIME__REQUEST_BACKOFF_FACTOR`, `RUNTIME__REQUEST_MAX_RETRY_DELAY` and
`RUNTIME__REQUEST_TIMEOUT`. Any other 4xx fails at once with the message the
server gave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Response
from requests.auth import AuthBase

from dlt_pipelines.constants import USER_AGENT
from dlt_pipelines.errors import SourceHTTPError

#: body -> the server's message (None when the body is not in the API's error shape)
MessageParser = Callable[[Any], str | None]


def connectwise_message(body: Any) -> str | None:
    """`{"code": "InvalidObject", "message": ..., "errors": [{"message", "field"}]}`."""
    if not isinstance(body, dict) or "message" not in body:
        return None
    text = f"{body.get('code') or 'Error'}: {body['message']}"
    details = [e.get("message") for e in body.get("errors") or [] if isinstance(e, dict)]
    details = [d for d in details if d]
    return text + (f" ({'; '.join(details)})" if details else "")


def quickbooks_message(body: Any) -> str | None:
    """`{"Fault": {"Error": [{"Message", "Detail", "code"}], "type": ...}}` or an OAuth error."""
    if not isinstance(body, dict):
        return None
    fault = body.get("Fault") or body.get("fault")
    if isinstance(fault, dict):
        errors = fault.get("Error") or fault.get("error") or []
        parts = []
        for err in errors if isinstance(errors, list) else []:
            if isinstance(err, dict):
                detail = err.get("Detail") or err.get("Message") or ""
                parts.append(f"{err.get('code', '?')} {detail}".strip())
        return f"{fault.get('type') or 'Fault'}: {'; '.join(parts) or 'no detail'}"
    return oauth_message(body)


def ninjaone_message(body: Any) -> str | None:
    """`{"resultCode": ..., "errorMessage": ...}` or an OAuth error."""
    if isinstance(body, dict) and "errorMessage" in body:
        return f"{body.get('resultCode') or 'Error'}: {body['errorMessage']}"
    return oauth_message(body)


def oauth_message(body: Any) -> str | None:
    if isinstance(body, dict) and "error" in body:
        desc = body.get("error_description")
        return f"{body['error']}" + (f": {desc}" if desc else "")
    return None


def error_text(response: Response, parse: MessageParser) -> str:
    try:
        message = parse(response.json())
    except ValueError:
        message = None
    if not message:
        message = " ".join((response.text or response.reason or "").split())[:300]
    return message or "no message"


def raise_for_status(label: str, parse: MessageParser) -> Callable[..., None]:
    """A `requests` response hook: any status >= 400 raises `SourceHTTPError`
    with `<label> <status> <server message>`."""

    def hook(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code < 400:
            return
        from urllib.parse import urlsplit

        path = urlsplit(response.url or "").path
        message = error_text(response, parse)
        raise SourceHTTPError(
            f"{label} answered {response.status_code} on {path}: {message}", response
        )

    return hook


class SourceClient:
    """A `RESTClient` for one source plus its error hook.

    Made per resource (and thus per extract thread): dlt's retrying session is
    not shared between threads.
    """

    def __init__(
        self,
        label: str,
        base_url: str,
        parse: MessageParser,
        auth: AuthBase | None = None,
        headers: dict[str, str] | None = None,
        paginator: BasePaginator | None = None,
    ) -> None:
        self.label = label
        self.requests = 0  # responses received (retries included), for the run log
        check = raise_for_status(label, parse)

        def hook(response: Response, *args: Any, **kwargs: Any) -> None:
            self.requests += 1
            check(response, *args, **kwargs)

        self.hook = hook
        self.rest = RESTClient(
            base_url=base_url,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            auth=auth,
            paginator=paginator,
        )

    def paginate(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        paginator: BasePaginator | None = None,
        data_selector: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[list[Any]]:
        yield from self.rest.paginate(
            path,
            params=params,
            paginator=paginator,
            data_selector=data_selector or "$",
            headers=headers,
            hooks={"response": [self.hook]},
        )

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.rest.get(path, params=params, hooks={"response": [self.hook]})
        return response.json()
