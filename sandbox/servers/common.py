"""Helpers shared by the three imitation servers: JSON, dates, record paths, shared state."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from flask import Response, request

from sandbox.servers.faults import Faults

JSON = "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    return str(value)


def dumps(payload: Any) -> str:
    return json.dumps(payload, default=_default, separators=(",", ":"))


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(dumps(payload), status=status, headers=headers or {}, mimetype=JSON)


def parse_datetime(value: Any) -> dt.datetime | None:
    """An aware datetime from the ISO forms the sources use (`Z`, offsets, fractions,
    bare dates = midnight UTC); None when the value is not a date."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if text.endswith("-00:00"):
        text = text[:-6] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def cw_datetime(value: dt.datetime) -> str:
    """ConnectWise style: UTC, `Z`, no fraction."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


MISSING = object()


def get_path(record: Any, parts: Iterable[str]) -> Any:
    """Follow dict keys; MISSING when a step is absent, None when a step is null."""
    current = record
    for part in parts:
        if current is None:
            return None
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def top_level_fields(records: Iterable[dict]) -> set[str]:
    keys: set[str] = set()
    for record in records:
        if isinstance(record, dict):
            keys.update(record.keys())
    return keys


def _shutdown(sock: socket.socket | None) -> None:
    if sock is None:  # not served by werkzeug (e.g. Flask test client)
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def drop_socket() -> None:
    """Close the client connection under werkzeug's feet: the client sees the
    connection end without (the rest of) a response."""
    _shutdown(request.environ.get("werkzeug.socket"))


def truncated_response(body: bytes, mimetype: str = JSON) -> Response:
    """Announce the whole body, send half of it, then drop the connection."""
    half = max(1, len(body) // 2)
    environ = request.environ

    def generate() -> Iterable[bytes]:
        yield body[:half]
        _shutdown(environ.get("werkzeug.socket"))

    return Response(
        generate(),
        status=200,
        mimetype=mimetype,
        headers={"Content-Length": str(len(body))},
        direct_passthrough=True,
    )


class SharedState:
    """What the three servers share: the MSP (read live, under one lock), the
    faults per source, request counters and the stop signal for slow faults."""

    def __init__(self, msp: Any) -> None:
        self.msp = msp
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.version = 0
        self.faults: dict[str, Faults] = {}
        self.requests: dict[str, int] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.deleted_at: dict[str, dict[str, dt.datetime]] = {}
        self._field_cache: dict[tuple, set[str]] = {}
        #: attr -> RecordIndex (by id, by lastUpdated) of the record list it was built
        #: on: dropped before an advance re-renders (no index keeps a replaced list
        #: alive) and built again right after it for the lists in use
        self._indexes: dict[str, Any] = {}
        #: lists whose indexes an advance rebuilds even before their first request
        self.indexed: set[str] = set()
        self.on_advance: list[Callable[[], None]] = []
        self._record_initial_deletions()

    # --- MSP access -------------------------------------------------------
    def records(self, attr: str) -> list[dict]:
        return list(getattr(self.msp, attr, None) or [])

    def now(self) -> dt.datetime:
        now = getattr(self.msp, "now", None)
        if isinstance(now, dt.datetime):
            return now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        return dt.datetime.now(dt.UTC).replace(microsecond=0)

    def known_fields(self, attr: str, documented: Iterable[str] = ()) -> set[str]:
        records = getattr(self.msp, attr, None) or []
        key = (attr, self.version, len(records))
        fields = self._field_cache.get(key)
        if fields is None:
            fields = top_level_fields(records)
            self._field_cache[key] = fields
        return fields | set(documented)

    def index(self, attr: str) -> Any:
        """The `RecordIndex` of `attr`'s records (sorted by id and by lastUpdated;
        sandbox/servers/record_index.py): built once per record list, as a
        database keeps its indexes, so conditions on id/lastUpdated and counts
        cost what the page costs, not the table."""
        from sandbox.servers.record_index import RecordIndex

        records = getattr(self.msp, attr, None) or []
        with self.lock:
            cached = self._indexes.get(attr)
            if cached is None or not cached.current(records):
                cached = self._indexes[attr] = RecordIndex(records)
            return cached

    def sorted_by_id(self, attr: str) -> tuple[list[dict], list[int]]:
        """The records of `attr` that have an int id, sorted by id, and those ids."""
        index = self.index(attr)
        return index.rows, index.ids

    def _deleted_ids(self) -> dict[str, set[str]]:
        deleted = getattr(self.msp, "deleted", None) or {}
        return {name: {str(i) for i in ids} for name, ids in deleted.items()}

    def _record_initial_deletions(self) -> None:
        # Deletions made before the sandbox started carry no time unless the MSP
        # keeps `deleted_at`; without it they count as deleted "now".
        now = self.now()
        for name, ids in self._deleted_ids().items():
            self.deleted_at[name] = dict.fromkeys(ids, now)

    def deletion_times(self, name: str) -> dict[str, dt.datetime]:
        """id -> when it was deleted at the source, for one collection."""
        own = getattr(self.msp, "deleted_at", None)
        if isinstance(own, dict) and name in own:
            return {
                str(k): (v if v.tzinfo else v.replace(tzinfo=dt.UTC))
                for k, v in own[name].items()
                if isinstance(v, dt.datetime)
            }
        return self.deleted_at.get(name, {})

    def advance(self, days: float) -> Any:
        with self.lock:
            before = self._deleted_ids()
            # before the MSP re-renders: the old lists can go
            indexed = {attr: index.has_updated for attr, index in self._indexes.items()}
            indexed.update(dict.fromkeys(self.indexed - set(indexed), True))
            self._indexes.clear()
            self._field_cache.clear()
            result = self.msp.advance(days)
            now = self.now()
            for name, ids in self._deleted_ids().items():
                known = self.deleted_at.setdefault(name, {})
                for record_id in ids - before.get(name, set()):
                    known[record_id] = now
            self.version += 1
            self._field_cache.clear()
            # the indexes in use, current again (the next refresh does not pay for them)
            for attr, with_updated in indexed.items():
                index = self.index(attr)
                if with_updated:
                    index.updated  # noqa: B018
        for callback in self.on_advance:
            callback()
        return result

    # --- bookkeeping ------------------------------------------------------
    def count_request(self, source: str) -> None:
        with self.lock:
            self.requests[source] = self.requests.get(source, 0) + 1

    def note(self, source: str, key: str, value: Any = 1) -> None:
        """Record an observation (e.g. a QuickBooks call without minorversion)."""
        with self.lock:
            bucket = self.notes.setdefault(source, {})
            if isinstance(value, int) and not isinstance(value, bool):
                bucket[key] = bucket.get(key, 0) + value
            else:
                bucket[key] = value

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the sandbox stops."""
        self.stopping.wait(seconds)


# --- broken records for the malformed_record fault ---------------------------

HOURS_FIELDS = ("actualHours", "hoursBilled", "budgetHours", "hoursDeduct")


def _first_field(record: dict, test: Callable[[Any], bool], skip: set[str]) -> str | None:
    for key, value in record.items():
        if key not in skip and test(value):
            return key
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def malformed_copies(
    template: dict,
    variants: list[str],
    id_key: str,
    fresh_ids: Iterable[Any],
    amount_fields: tuple[str, ...] = HOURS_FIELDS,
) -> list[dict]:
    """Broken copies of `template`: without its id, with a value of the wrong type,
    with a negative hours/amount value. Each keeps a fresh id (except the first)."""
    import copy

    ids = iter(fresh_ids)
    out: list[dict] = []
    skip = {id_key}
    for variant in variants:
        record = copy.deepcopy(template)
        if variant == "missing_id":
            record.pop(id_key, None)
        elif variant == "wrong_type":
            record[id_key] = next(ids)
            key = _first_field(record, _number, skip)
            if key is not None:
                record[key] = "not-a-number"
            else:
                key = _first_field(record, lambda v: isinstance(v, bool), skip)
                if key is not None:
                    record[key] = "maybe"
                else:
                    record[id_key] = f"bad-{record[id_key]}"
        elif variant == "negative":
            record[id_key] = next(ids)
            keys = [k for k in amount_fields if k in record and _number(record[k])]
            if not keys:
                key = _first_field(record, _number, skip)
                keys = [key] if key else []
            if not keys:
                continue
            for key in keys:
                record[key] = -abs(float(record[key]) or 1.0)
        out.append(record)
    return out
