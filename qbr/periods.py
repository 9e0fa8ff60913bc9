"""Periods as people type them: YYYY-MM months and YYYY-Qn calendar quarters.

The one place a period is parsed (API parameters, `qbr refresh --since`, the
pipelines' `since`): real months 01-12, quarters 1-4, years 1900-2999, from <=
to, a bounded range. A bad value raises `PeriodError`, which the API answers as
400 INVALID_PERIOD and the CLI as a one-line error. Both forms sort as strings,
which the SQL relies on (`period between`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from qbr.errors import QbrError

MONTH_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
QUARTER_PATTERN = r"^(19|2[0-9])[0-9]{2}-Q[1-4]$"
MONTH_RE = re.compile(MONTH_PATTERN)
QUARTER_RE = re.compile(QUARTER_PATTERN)
#: The longest range one request may ask for (ten years of months).
MAX_RANGE = 120


class PeriodError(QbrError, ValueError):
    """A malformed period. `status` / `error_code` / `extra` are how an HTTP API answers
    it (400 INVALID_PERIOD naming the parameter); the CLI prints the message."""

    status = 400
    error_code = "INVALID_PERIOD"

    def __init__(self, message: str, param: str = "period"):
        super().__init__(message)
        self.message = message
        self.param = param
        self.extra = {"param": param}


def _invalid(param: str, value: object, what: str) -> PeriodError:
    return PeriodError(f"{param} must be {what} (got {value!r}).", param)


def parse_month(value: str | None, param: str = "period") -> str:
    if not isinstance(value, str) or not MONTH_RE.match(value):
        raise _invalid(param, value, "a month as YYYY-MM, e.g. 2025-01")
    return value


def parse_quarter(value: str | None, param: str = "period") -> str:
    if not isinstance(value, str) or not QUARTER_RE.match(value):
        raise _invalid(param, value, "a calendar quarter as YYYY-Qn, e.g. 2025-Q1")
    return value


def month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def quarter_index(quarter: str) -> int:
    return int(quarter[:4]) * 4 + int(quarter[6]) - 1


def quarter_months(quarter: str) -> list[str]:
    year, q = int(quarter[:4]), int(quarter[6])
    return [f"{year}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]


def prior_year(period: str) -> str:
    return f"{int(period[:4]) - 1}{period[4:]}"


def parse_range(
    period: str | None, start: str | None, end: str | None, *, quarterly: bool
) -> tuple[str, str] | None:
    """(first, last) from `period` or `from`/`to`; None when none is given (use a default)."""
    parse = parse_quarter if quarterly else parse_month
    index = quarter_index if quarterly else month_index
    if period is not None:
        if start is not None or end is not None:
            raise PeriodError("Give either period or from/to, not both.", "period")
        p = parse(period, "period")
        return p, p
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise PeriodError("A range needs both from and to.", "from" if start is None else "to")
    first, last = parse(start, "from"), parse(end, "to")
    if index(first) > index(last):
        raise PeriodError(f"from ({first}) must not be after to ({last}).", "from")
    if index(last) - index(first) + 1 > MAX_RANGE:
        raise PeriodError(f"A range may span at most {MAX_RANGE} periods.", "to")
    return first, last


def month_start(month: str) -> date:
    """A valid `YYYY-MM` -> the first day of that month."""
    return date(int(month[:4]), int(month[5:7]), 1)


def month_start_utc(month: date, timezone: str) -> datetime:
    """Local midnight on the first of the month, in UTC."""
    local = datetime(month.year, month.month, 1, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)
