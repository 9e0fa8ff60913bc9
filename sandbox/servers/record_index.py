"""Sorted indexes over one record list, as the real ConnectWise answers `conditions`
on `id` and `lastUpdated` from its database indexes.

A `RecordIndex` holds the records sorted by id and (built on first need) by
`lastUpdated`. `conditions` whose top-level `and` bounds `id` and/or
`lastUpdated` (`>=`, `>`, `<=`, `<`, `=`) are answered by bisecting the
narrower index, in time proportional to the records in range (one page, for
forward-only paging), not to the table: a one-day incremental read of a 166k
row table touches the few hundred records updated that day, and a `/count`
of an id range is two bisections. Any other condition (or a second bound)
is checked record by record on the candidates only, with the same predicate
a full scan would use, so an index never changes what is answered.

The index belongs to one record list; `SharedState.index()` rebuilds it when
the MSP's list is replaced or changes length, and `SharedState.advance()`
rebuilds the indexes in use right after the clock moves.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import islice
from typing import Any

from sandbox.servers.common import parse_datetime
from sandbox.servers.conditions import (
    INDEXED_ID,
    INDEXED_UPDATED,
    Predicate,
    Range,
    index_ranges,
    resolve,
)

ID, UPDATED = INDEXED_ID, INDEXED_UPDATED


def _positions(keys: list[Any], bounds: Range) -> tuple[int, int]:
    """[lo, hi) of the sorted `keys` inside `bounds`."""
    lo, hi = 0, len(keys)
    if bounds.low is not None:
        lo = (bisect_right if bounds.low_strict else bisect_left)(keys, bounds.low)
    if bounds.high is not None:
        hi = (bisect_left if bounds.high_strict else bisect_right)(keys, bounds.high)
    return lo, max(lo, hi)


def _has_int_id(record: Any) -> bool:
    return isinstance(record, dict) and type(record.get("id")) is int


class RecordIndex:
    """One record list sorted by id, and by `lastUpdated` on first need."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records
        self.length = len(records)
        rows = [r for r in records if _has_int_id(r)]
        rows.sort(key=lambda r: r["id"])
        #: records with an int id, by id (what forward-only pages walk)
        self.rows = rows
        self.ids = [r["id"] for r in rows]
        #: every record has an int id: an id range selects exactly what `id >= ...` does
        self.exact_ids = len(rows) == len(records)
        self._updated: tuple[list[Any], list[dict]] | None = None

    @property
    def has_updated(self) -> bool:
        return self._updated is not None

    def current(self, records: list[dict]) -> bool:
        return records is self.records and len(records) == self.length

    @property
    def updated(self) -> tuple[list[Any], list[dict]]:
        """(lastUpdated values ascending, their records): only records whose
        `lastUpdated` is a date-time, which are the only ones a date comparison
        can select (conditions.resolve + parse_datetime, as the predicate does)."""
        if self._updated is None:
            keyed = []
            for position, record in enumerate(self.records):
                if isinstance(record, dict):
                    value = parse_datetime(resolve(record, (UPDATED,)))
                    if value is not None:
                        keyed.append((value, position))
            keyed.sort()
            self._updated = ([k for k, _ in keyed], [self.records[p] for _, p in keyed])
        return self._updated

    def by_id(self, record_id: int) -> dict | None:
        at = bisect_left(self.ids, record_id)
        if at < len(self.ids) and self.ids[at] == record_id:
            return self.rows[at]
        return None

    # --- conditions --------------------------------------------------------
    def matching(self, predicate: Predicate) -> list[dict] | None:
        """The records `predicate` selects (any order), from an index; None when
        the conditions bound neither id nor lastUpdated (scan the list)."""
        ranges, residual = index_ranges(predicate)
        candidates = self._candidates(ranges)
        if candidates is None:
            return None
        rows, exact = candidates
        if exact and not residual:
            return list(rows)
        return [r for r in rows if predicate(r)]

    def _candidates(self, ranges: dict[str, Range]) -> tuple[list[dict], bool] | None:
        """The smaller index slice covering the ranges, and whether it alone is
        exact (a single range, answered by an exact index)."""
        options: list[tuple[int, int, int, str]] = []
        if ID in ranges and self.exact_ids:
            lo, hi = _positions(self.ids, ranges[ID])
            options.append((hi - lo, lo, hi, ID))
        if UPDATED in ranges:
            lo, hi = _positions(self.updated[0], ranges[UPDATED])
            options.append((hi - lo, lo, hi, UPDATED))
        if not options:
            return None
        _, lo, hi, field = min(options)
        rows = self.rows if field == ID else self.updated[1]
        return rows[lo:hi], len(ranges) == 1

    def page_after(
        self, predicate: Predicate | None, after_id: int, size: int
    ) -> tuple[list[dict], bool]:
        """The first `size` records (by id) with an int id above `after_id` that
        `predicate` selects, and whether more follow: a forward-only page."""
        start, stop = bisect_right(self.ids, after_id), len(self.ids)
        check = predicate
        if predicate is not None:
            ranges, residual = index_ranges(predicate)
            if ID in ranges:  # exact on the int-id rows, the only ones pages walk
                lo, hi = _positions(self.ids, ranges[ID])
                start, stop = max(start, lo), min(stop, hi)
                if not residual and len(ranges) == 1:
                    check = None
            if start >= stop:
                return [], False
            if UPDATED in ranges:
                keys, by_updated = self.updated
                lo, hi = _positions(keys, ranges[UPDATED])
                selected, remaining = hi - lo, stop - start
                if not selected:
                    return [], False
                # walking the id order finds `size` matches after about
                # size * remaining / selected records; picking the selected ones
                # and sorting them by id costs about their number
                if selected * 4 < min(remaining, size * remaining // selected):
                    low_id, high_id = self.ids[start], self.ids[stop - 1]
                    picked = [
                        r
                        for r in by_updated[lo:hi]
                        if _has_int_id(r)
                        and low_id <= r["id"] <= high_id
                        and (not residual or predicate(r))
                    ]
                    picked.sort(key=lambda r: r["id"])
                    return picked[:size], len(picked) > size
        items: list[dict] = []
        for record in islice(self.rows, start, stop):
            if check is None or check(record):
                if len(items) == size:
                    return items, True
                items.append(record)
        return items, False
