"""In-process LRUs keyed by data version: GET response bodies, and small lookups.

A cached operation's body depends only on the data version (api.etag) and
the request URL, so a body computed once serves every later identical GET
until a refresh, a manual entry or a threshold change moves the version:
then the key no longer matches and the next read recomputes. Bounded in
entries (QBR_RESPONSE_CACHE, default 512; 0 turns it off); one per worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Cached:
    body: bytes
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]


class LRU:
    """A small thread-safe LRU (size 0: always empty)."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict[tuple, Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        if self.size <= 0:
            return None
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
            return hit

    def put(self, key: tuple, value) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


MEMO_KEY = "qbr_memo"


def memo(key: tuple, load):
    """`load()` once per data version: for lookups that change only with the marts
    (the periods, the catalogue). Without a version (writes), always loads."""
    from flask import current_app, g

    tag = g.get("qbr_tag")
    store = current_app.extensions.get(MEMO_KEY)
    if tag is None or store is None:
        return load()
    full = (tag, *key)
    hit = store.get(full)
    if hit is None:
        hit = load()
        store.put(full, hit)
    return hit
