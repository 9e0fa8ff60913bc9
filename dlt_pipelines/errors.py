"""Errors a source step reports: one line an operator can act on.

dlt wraps whatever a resource raises in several layers (`PipelineStepFailed`,
`ResourceExtractionError`, ...). `one_line()` digs out the cause that says
what actually went wrong.
"""

from __future__ import annotations

from typing import Any

import requests


class SourceError(Exception):
    """A source failed for a reason worth showing as is (first line only)."""


class ReauthorizationRequired(SourceError):
    """The source's stored grant is no longer valid; a person must re-authorize."""


class SourceHTTPError(requests.HTTPError):
    """An HTTP error status with the server's own message.

    A subclass of `requests.HTTPError` that keeps the response: dlt's retry
    logic retries 429 and 5xx by looking at `exc.response`, so these are still
    retried with backoff (honouring `Retry-After`) before they surface.
    """

    def __init__(self, message: str, response: requests.Response) -> None:
        super().__init__(message, response=response)
        self.message = message

    def __str__(self) -> str:
        return self.message


class FileRefused(SourceError):
    """An import file does not have the expected shape."""


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop(0)
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        stack.extend([current.__cause__, current.__context__])
        for attr in ("exception", "inner_exception"):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException):
                stack.append(inner)
    return seen


def root_cause(exc: BaseException) -> BaseException:
    """The most telling exception in the chain (ours first, then HTTP/IO ones)."""
    chain = _chain(exc)
    for wanted in (SourceError, SourceHTTPError, requests.RequestException):
        for item in chain:
            if isinstance(item, wanted):
                return item
    return chain[-1]


def one_line(exc: BaseException, source: str | None = None) -> str:
    """A single line: `<source>: <what went wrong>`."""
    cause = root_cause(exc)
    missing = _missing_config(exc)
    if missing:
        text = missing
    elif isinstance(cause, SourceError | SourceHTTPError):
        text = str(cause)
    elif isinstance(cause, requests.ConnectionError | requests.Timeout):
        kind = "timed out" if isinstance(cause, requests.Timeout) else "connection failed"
        url = _url_of(cause)
        text = f"cannot reach {url or 'the server'} ({kind}) after retries: {_first(cause)}"
    elif isinstance(cause, requests.RequestException):
        text = f"HTTP request failed: {_first(cause)}"
    else:
        text = f"{type(cause).__name__}: {_first(cause)}"
    text = " ".join(text.split())
    return f"{source}: {text}" if source and not text.startswith(source) else text


def _missing_config(exc: BaseException) -> str | None:
    """dlt could not resolve a source argument: say which settings to set."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    for item in _chain(exc):
        if isinstance(item, ConfigFieldMissingException):
            spec = getattr(item, "spec_name", "") or ""
            source = spec.removesuffix("SourceConfiguration").lower() or "<source>"
            fields = list(getattr(item, "fields", None) or ["<field>"])
            names = ", ".join(f"SOURCES__{source.upper()}__{f.upper()}" for f in fields)
            return f"not configured: set {names} (or [sources.{source}] in .dlt/secrets.toml)"
    return None


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _url_of(exc: Any) -> str | None:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None)
    if not url:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
