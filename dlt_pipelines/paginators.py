"""Paginators for the APIs dlt has no ready-made one for.

- ConnectWise: dlt's own `HeaderLinkPaginator` (the `Link: <...>; rel="next"`
  header carries every parameter of the next page); see `connectwise_paginator`.
- QuickBooks Online: the offset lives inside the query text
  (`... STARTPOSITION 1001 MAXRESULTS 1000`) -> `QueryPaginator`.
- NinjaOne: `after=<last id of the previous page>` until a short page ->
  `AfterIdPaginator`.
"""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.rest_client.paginators import BasePaginator, HeaderLinkPaginator
from requests import Request, Response


def connectwise_paginator() -> HeaderLinkPaginator:
    """ConnectWise pages are followed through the `Link` header's `rel="next"`
    (absent on the last page); the next URL repeats conditions, fields and
    pageSize (and, in forward-only mode, carries `pageId`)."""
    return HeaderLinkPaginator(links_next_key="next")


class QueryPaginator(BasePaginator):
    """QuickBooks query paging: `STARTPOSITION` (1-based) and `MAXRESULTS` are
    part of the `query` parameter. A page shorter than `page_size` is the last."""

    def __init__(self, query: str, page_size: int, param: str = "query") -> None:
        super().__init__()
        if "STARTPOSITION" in query.upper():
            raise ValueError("pass the query without STARTPOSITION/MAXRESULTS")
        self.query = query.strip()
        self.page_size = page_size
        self.param = param
        self.position = 1

    def _text(self) -> str:
        return f"{self.query} STARTPOSITION {self.position} MAXRESULTS {self.page_size}"

    def init_request(self, request: Request) -> None:
        self.position = 1
        request.params = {**(request.params or {}), self.param: self._text()}

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        if not data or len(data) < self.page_size:
            self._has_next_page = False
        else:
            self.position += self.page_size

    def update_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), self.param: self._text()}

    def __str__(self) -> str:
        return f"QueryPaginator(position={self.position}, page_size={self.page_size})"


class AfterIdPaginator(BasePaginator):
    """NinjaOne paging: `after` = the last id of the previous page, until an
    empty page or one shorter than `page_size`."""

    def __init__(self, page_size: int, id_field: str = "id", param: str = "after") -> None:
        super().__init__()
        self.page_size = page_size
        self.id_field = id_field
        self.param = param
        self.after: int | None = None

    def init_request(self, request: Request) -> None:
        self.after = None
        request.params = {**(request.params or {}), "pageSize": self.page_size}
        request.params.pop(self.param, None)

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        ids = [
            r.get(self.id_field)
            for r in data or []
            if isinstance(r, dict) and isinstance(r.get(self.id_field), int)
        ]
        if not ids or len(data or []) < self.page_size:
            self._has_next_page = False
            return
        last = max(ids)
        if self.after is not None and last <= self.after:  # no progress: stop, never loop
            self._has_next_page = False
            return
        self.after = last

    def update_request(self, request: Request) -> None:
        request.params = {**(request.params or {}), self.param: self.after}

    def __str__(self) -> str:
        return f"AfterIdPaginator(after={self.after}, page_size={self.page_size})"
