"""Clock, calendar and wire-format helpers shared by the generator modules.

All internal instants are aware UTC datetimes; calendar logic (months, days,
business hours) happens in the MSP's local zone, America/Chicago, because that
is how the MSP and METRICS.md bucket time.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("America/Chicago")
PACIFIC = ZoneInfo("America/Los_Angeles")  # QuickBooks MetaData offsets


def local_dt(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time on `day`."""
    return datetime.combine(day, time(hour, minute, second), LOCAL).astimezone(UTC)


def local_date(instant: datetime) -> date:
    return instant.astimezone(LOCAL).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """First of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_range(first: date, last: date) -> list[date]:
    """Firsts of every month from `first`'s month to `last`'s month, inclusive."""
    out, m = [], month_start(first)
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1)]


def period_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def parse_period(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


# -- wire formats ---------------------------------------------------------


def cw_ts(instant: datetime) -> str:
    """ConnectWise datetime: UTC, Z, no fraction."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cw_date(day: date) -> str:
    """ConnectWise calendar date (agreements): midnight UTC."""
    return f"{day.isoformat()}T00:00:00Z"


def parse_cw_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def qbo_ts(instant: datetime) -> str:
    """QuickBooks MetaData time: Pacific wall clock with its offset, no fraction."""
    return instant.astimezone(PACIFIC).isoformat(timespec="seconds")


def epoch(instant: datetime) -> float:
    return float(instant.timestamp())
