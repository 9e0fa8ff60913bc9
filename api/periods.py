"""Periods in parameters: YYYY-MM months and YYYY-Qn calendar quarters.

Validated here (real months 01-12, quarters 1-4, years 1900-2999, from <= to,
a bounded range) so every endpoint answers the same 400 INVALID_PERIOD.
Both forms sort as strings, which the SQL relies on (`period between`).
"""

from __future__ import annotations

import re

from api.errors import ApiError

MONTH_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
QUARTER_PATTERN = r"^(19|2[0-9])[0-9]{2}-Q[1-4]$"
MONTH_RE = re.compile(MONTH_PATTERN)
QUARTER_RE = re.compile(QUARTER_PATTERN)
#: The longest range one request may ask for (ten years of months).
MAX_RANGE = 120


def _invalid(param: str, value: object, what: str) -> ApiError:
    return ApiError(400, "INVALID_PERIOD", f"{param} must be {what} (got {value!r}).", param=param)


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
            raise ApiError(
                400, "INVALID_PERIOD", "Give either period or from/to, not both.", param="period"
            )
        p = parse(period, "period")
        return p, p
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise ApiError(
            400,
            "INVALID_PERIOD",
            "A range needs both from and to.",
            param="from" if start is None else "to",
        )
    first, last = parse(start, "from"), parse(end, "to")
    if index(first) > index(last):
        raise ApiError(
            400, "INVALID_PERIOD", f"from ({first}) must not be after to ({last}).", param="from"
        )
    if index(last) - index(first) + 1 > MAX_RANGE:
        raise ApiError(
            400,
            "INVALID_PERIOD",
            f"A range may span at most {MAX_RANGE} periods.",
            param="to",
        )
    return first, last
