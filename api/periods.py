"""Parsing and validating period parameters: YYYY-MM and YYYY-Qn."""

from __future__ import annotations

import re

from api.errors import ApiError

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$")


def parse_month(value: str, param: str = "period") -> str:
    m = MONTH_RE.match(value or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ApiError(
            400, "INVALID_PERIOD", f"{param} must be a month as YYYY-MM (got {value!r})."
        )
    return value


def parse_quarter(value: str, param: str = "period") -> str:
    if not QUARTER_RE.match(value or ""):
        raise ApiError(
            400, "INVALID_PERIOD", f"{param} must be a quarter as YYYY-Qn (got {value!r})."
        )
    return value
