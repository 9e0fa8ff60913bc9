"""An MSP built from explicit record lists, for tests whose answers are counted by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from sandbox.generator.timeutil import local_date, month_start
from sandbox.msp import MSP, RECORD_LISTS, TIMEZONE


class HandmadeMSP(MSP):
    """Same reading interface as a generated MSP; `advance` is not available."""

    def __init__(self, *, now: datetime, start_month: date, snapshots: list[dict],
                 pnl: dict[tuple[str, date], Decimal], lists: dict[str, list[dict]],
                 clients: list[dict] | None = None) -> None:  # fmt: skip
        unknown = set(lists) - set(RECORD_LISTS)
        if unknown:
            raise TypeError(f"unknown record lists: {sorted(unknown)}")
        self._world = None
        self.preset, self.seed, self.timezone = "handmade", 0, TIMEZONE
        self.start_month = start_month
        self.now = now
        self.end_month = month_start(local_date(now))
        for name in RECORD_LISTS:
            setattr(self, name, list(lists.get(name, [])))
        self.deleted, self.deleted_at, self.events = {}, {}, {}
        self.clients = list(clients or [])
        self._snapshots = sorted(snapshots, key=lambda r: (r["snapshot_date"],
                                                           r["vendor_device_key"]))  # fmt: skip
        self._pnl = dict(pnl)

    def profit_and_loss(self, start: date, end: date) -> dict[tuple[str, date], Decimal]:
        first, last = month_start(start), month_start(end)
        return {k: v for k, v in sorted(self._pnl.items()) if first <= k[1] <= last and v}

    def snapshot_dates(self, vendor: str = "NinjaRMM") -> list[date]:
        return sorted({r["snapshot_date"] for r in self._snapshots if r["vendor"] == vendor})

    def iter_device_snapshots(self, vendor: str = "NinjaRMM", start: date | None = None,
                              end: date | None = None) -> Iterator[dict]:  # fmt: skip
        for row in self._snapshots:
            day = row["snapshot_date"]
            if (
                row["vendor"] == vendor
                and (start is None or day >= start)
                and (end is None or day <= end)
            ):
                yield dict(row)

    def advance(self, days: int) -> dict[str, int]:
        raise NotImplementedError("a hand-made MSP has no plan to advance")
