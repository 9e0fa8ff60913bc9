"""Reading a QuickBooks Desktop "Profit & Loss by Month" export (CSV or XLSX).

`parse(path)` returns the report's rows in the raw P&L shape (dlt_pipelines/pnl.py)
or raises FileRefused saying why; the layouts it reads and every refusal are in
the package's docstring and dlt_pipelines/README.md.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dlt_pipelines import pnl
from dlt_pipelines.errors import FileRefused

log = logging.getLogger("dlt_pipelines.quickbooks_desktop")

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]  # fmt: skip
    )
    for m in names
}
_MON = r"(?P<mon>[A-Za-z]{3,9})\.?"
#: QuickBooks' own month headers, the year given: "Jan 25", "Jan 2025", "Jan '25",
#: "Jan 1 - 15, 25" (a partial month)
MONTH_RE = re.compile(rf"^{_MON}\s+(?:\d{{1,2}}\s*-\s*\d{{1,2}},?\s*)?'?(?P<year>\d{{2}}|\d{{4}})$")
#: what Excel makes of "Jan 25" when the CSV is opened and saved again: a date
#: (1/25/2026 - the year is today's), "25-Jan" or "Jan-25": the year is lost
RESAVED_RES = (
    re.compile(r"^(?P<day>\d{1,2})-" + _MON + r"$"),
    re.compile(r"^" + _MON + r"-(?P<day>\d{1,2})$"),
    re.compile(r"^(?P<mnum>\d{1,2})/(?P<day>\d{1,2})/(?P<y>\d{2}|\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})(?:[ T]00:00(?::00)?)?$"),
)
#: the title's date range: "January through December 2025", "January 2024
#: through March 2025", "January 1 through March 31, 2025", or one month "March 2025"
RANGE_RE = re.compile(
    r"^(?P<m1>[A-Za-z]{3,9})\.?(?:\s+\d{1,2},?)?(?:\s+(?P<y1>\d{4}))?\s+"
    r"(?:through|thru|to|-)\s+(?P<m2>[A-Za-z]{3,9})\.?(?:\s+\d{1,2},?)?\s+(?P<y2>\d{4})$",
    re.IGNORECASE,
)
SINGLE_MONTH_RE = re.compile(r"^(?P<m1>[A-Za-z]{3,9})\s+(?P<y1>\d{4})$")
BASIS_RE = re.compile(r"\b(accrual|cash)\s+basis\b", re.IGNORECASE)
SECTION_HEADERS = {
    "income": "Income",
    "cost of goods sold": "COGS",
    "cogs": "COGS",
    "expense": "Expenses",
    "expenses": "Expenses",
    "other income": "OtherIncome",
    "other expense": "OtherExpenses",
    "other expenses": "OtherExpenses",
}
STRUCTURAL = {"ordinary income/expense", "other income/expense"}
COMPUTED = {
    "gross profit",
    "net ordinary income",
    "net operating income",
    "net other income",
    "net income",
}
OTHER_REPORTS = ("balance sheet", "general ledger", "trial balance", "cash flow", "a/r aging")
PARENT_OWN_SUFFIX = " - Other"
BASES = {"accrual": "Accrual", "cash": "Cash"}
ASSUMED_BASIS = "Accrual"
REEXPORT = (
    "export the report again from QuickBooks Desktop (Reports > Company & Financial > "
    "Profit & Loss Standard, Columns: Month; Excel > Create New Worksheet, or CSV) with "
    "its header (the date range line) and import that file without opening and saving "
    "it in Excel"
)


@dataclass
class ParsedReport:
    """What a file holds: rows in the raw P&L shape plus what the title said."""

    rows: list[dict[str, Any]]
    months: list[date]
    accounting_method: str
    company: str | None = None
    accounts: int = 0
    warnings: list[str] = field(default_factory=list)


# --- reading cells ------------------------------------------------------------------


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        raise FileRefused(
            f"{name}: the file contains NUL bytes - not a CSV text export (save the report "
            "as CSV, comma separated)"
        )
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileRefused(
        f"{name}: the file is neither UTF-8 nor Windows-1252 (cp1252) text - export the "
        "report from QuickBooks as CSV again"
    )


def read_cells(path: Path, name: str | None = None) -> list[list[Any]]:
    """The sheet as rows of cells (str, number, date or None)."""
    name = name or path.name
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = _decode(path.read_bytes(), name)
        try:
            return [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
        except csv.Error as exc:
            raise FileRefused(f"{name}: not a readable CSV file ({exc})") from None
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise FileRefused(
                f"{name}: not a readable .xlsx workbook ({' '.join(str(exc).split())[:120]})"
            ) from None
        try:
            sheet = book.worksheets[0]
            return [list(r) for r in sheet.iter_rows(values_only=True)]
        except Exception as exc:
            raise FileRefused(f"{name}: the workbook cannot be read ({exc})") from None
        finally:
            book.close()
    raise FileRefused(f"{name}: only .csv and .xlsx exports can be imported")


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 1e15:
        return str(int(cell))
    return " ".join(str(cell).replace("\xa0", " ").split())


@dataclass(frozen=True)
class MonthHeader:
    """A month column's header: its month of the year, and its year when known."""

    month: int
    year: int | None
    text: str


def month_header(cell: Any) -> MonthHeader | None:
    """The month a header cell names (year None when Excel lost it), or None."""
    if isinstance(cell, datetime | date):  # a re-saved "Jan 25": the year is today's
        return MonthHeader(cell.month, None, f"{cell:%Y-%m-%d}")
    text = _text(cell)
    match = MONTH_RE.match(text)
    if match and match["mon"].lower() in MONTHS:
        year = int(match["year"])
        year += 2000 if year < 100 else 0
        return MonthHeader(MONTHS[match["mon"].lower()], year, text)
    for pattern in RESAVED_RES:
        match = pattern.match(text)
        if not match:
            continue
        groups = match.groupdict()
        mon = groups.get("mon")
        number = MONTHS.get(mon.lower()) if mon else int(groups["mnum"])
        if number and 1 <= number <= 12:
            return MonthHeader(number, None, text)
    return None


def month_of(cell: Any) -> date | None:
    """The month a header cell names when its year is given, else None."""
    found = month_header(cell)
    return date(found.year, found.month, 1) if found and found.year else None


def _label(row: list[Any], first_amount_col: int) -> tuple[int, str]:
    """(indent level, label) of a row: the first non-blank cell before the amounts;
    leading spaces count as indentation too (two per level)."""
    for index, cell in enumerate(row[:first_amount_col]):
        if cell is None or (isinstance(cell, str) and not cell.strip()):
            continue
        raw = str(cell).replace("\xa0", " ")
        spaces = len(raw) - len(raw.lstrip(" "))
        return index * 10 + spaces // 2, _text(cell)
    return -1, ""


def _is_header(row: list[Any]) -> list[tuple[int, MonthHeader]] | None:
    """The month columns when `row` is the month header row: every filled cell
    after the first is a month (or TOTAL), with at least two of them, or one
    in QuickBooks' own `Jan 25` form (a title line 'March 2025' is not one)."""
    found: list[tuple[int, MonthHeader]] = []
    has_total = False
    for index, cell in enumerate(row):
        text = _text(cell)
        if not text:
            continue
        header = month_header(cell)
        if index == 0:  # a label, a title line or the print date: not the header
            return None
        if header is not None:
            found.append((index, header))
        elif text.lower() == "total":
            has_total = True
        else:
            return None
    if not found:
        return None
    if len(found) >= 2 or has_total:
        return found
    only = found[0][1]
    if only.year is not None and re.match(r"^[A-Za-z]{3}\.?\s+'?\d{2}$", only.text):
        return found
    return None


def _title_range(titles: list[str]) -> tuple[date, date] | None:
    """The report's months from its title: 'January through December 2025' or 'March 2025'."""
    for text in titles:
        match = RANGE_RE.match(text) or SINGLE_MONTH_RE.match(text)
        if not match:
            continue
        first_mon = MONTHS.get(match["m1"].lower())
        last_mon = MONTHS.get((match.groupdict().get("m2") or match["m1"]).lower())
        if not first_mon or not last_mon:
            continue
        last_year = int(match.groupdict().get("y2") or match["y1"])
        first_year = int(match["y1"]) if match["y1"] else last_year
        first, last = date(first_year, first_mon, 1), date(last_year, last_mon, 1)
        if first <= last:
            return first, last
    return None


def _resolve_months(
    name: str, headers: list[tuple[int, MonthHeader]], span: tuple[date, date] | None
) -> list[tuple[int, date]]:
    """Each month column's first day: from the title's date range when there is
    one (the headers must agree with it), else from the headers' own years.
    Refuses when the year cannot be known for certain."""
    if span is not None:
        expected = []
        current = span[0]
        while current <= span[1]:
            expected.append(current)
            current = pnl.add_months(current, 1)
        if len(expected) != len(headers):
            raise FileRefused(
                f"{name}: the header has {len(headers)} month column(s) but the title's date "
                f"range {span[0]:%B %Y} through {span[1]:%B %Y} has {len(expected)} - {REEXPORT}"
            )
        out = []
        for (col, header), month in zip(headers, expected, strict=True):
            if header.month != month.month or (header.year and header.year != month.year):
                raise FileRefused(
                    f"{name}: the column header {header.text!r} does not match the title's "
                    f"date range ({month:%b %Y} expected there) - {REEXPORT}"
                )
            out.append((col, month))
        return out
    lost = [h.text for _, h in headers if h.year is None]
    if lost:
        raise FileRefused(
            f"{name}: the month headers ({lost[0]!r}, ...) have lost their year (Excel turns "
            f"'Jan 25' into a date when a CSV is opened and saved) and the file has no title "
            f"rows with the date range, so the year cannot be known - {REEXPORT}"
        )
    return [(col, date(h.year, h.month, 1)) for col, h in headers if h.year]


# --- parsing ---------------------------------------------------------------------------


def parse(path: Path, source_file: str | None = None, basis: str | None = None) -> ParsedReport:
    """Parse and validate a whole export; raises FileRefused with one line
    naming what is wrong. `basis` ('cash'|'accrual') overrides the file's."""
    name = source_file or path.name
    try:
        return _parse(path, name, basis)
    except FileRefused:
        raise
    except Exception as exc:  # whatever else a strange file trips: still one line
        raise FileRefused(
            f"{name}: cannot be read as a 'Profit & Loss by Month' export "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        ) from None


def _parse(path: Path, name: str, basis: str | None) -> ParsedReport:
    cells = read_cells(path, name)
    numbered = [(index + 1, r) for index, r in enumerate(cells)]
    for line, row in numbered:
        for cell in row:
            if isinstance(cell, str) and "\x00" in cell:
                raise FileRefused(f"{name}: line {line} contains a NUL byte - not a clean export")
    numbered = [(line, r) for line, r in numbered if any(_text(c) for c in r)]
    if not numbered:
        raise FileRefused(f"{name}: the file is empty")

    header_at = None
    headers: list[tuple[int, MonthHeader]] = []
    for position, (_, row) in enumerate(numbered[:40]):
        found = _is_header(row)
        if found:
            header_at, headers = position, found
            break
    title_rows = numbered[:header_at] if header_at is not None else numbered[:6]
    titles = [_text(c) for _, r in title_rows for c in r if isinstance(c, str) and _text(c)]
    title_text = " | ".join(titles).lower()
    for other in OTHER_REPORTS:
        if other in title_text and "profit" not in title_text:
            raise FileRefused(
                f"{name}: this is a '{other.title()}' report, not 'Profit & Loss by Month'"
            )
    if header_at is None:
        raise FileRefused(
            f"{name}: no header row with month columns such as 'Jan 25' - export the "
            "'Profit & Loss' report with columns 'Month' (Profit & Loss by Month)"
        )
    if len({(h.month, h.year) for _, h in headers if h.year}) != len(
        [h for _, h in headers if h.year]
    ):
        raise FileRefused(f"{name}: the header row repeats a month")
    span = _title_range(titles)
    month_cols = _resolve_months(name, headers, span)
    if len({m for _, m in month_cols}) != len(month_cols):
        raise FileRefused(f"{name}: the header row repeats a month")
    header_row = numbered[header_at][1]
    total_col = next((i for i, c in enumerate(header_row) if _text(c).lower() == "total"), None)

    warnings: list[str] = []
    found_basis = BASIS_RE.search(title_text)
    file_method = BASES[found_basis.group(1).lower()] if found_basis else None
    if basis is not None:
        method = BASES[basis.lower()]
        if file_method and file_method != method:
            warnings.append(
                f"the file says {file_method} Basis; imported as {method} as --basis asked"
            )
    elif file_method:
        method = file_method
    else:
        method = ASSUMED_BASIS
        warnings.append(
            f"no 'Accrual Basis' / 'Cash Basis' line in the file: imported as {method} "
            "basis (assumed); re-import with --basis cash if it is a cash-basis report"
        )
    company = next(
        (
            t
            for t in titles
            if not BASIS_RE.search(t)
            and "profit" not in t.lower()
            and _title_range([t]) is None
            and not re.match(r"^[\d/:.\- ]+(?:[AP]M)?$", t, re.IGNORECASE)
        ),
        None,
    )
    first_amount_col = min(i for i, _ in month_cols)
    body = numbered[header_at + 1 :]
    levels = {_label(r, first_amount_col)[0] for _, r in body if _label(r, first_amount_col)[1]}
    use_levels = len(levels) > 1

    amounts: dict[tuple[str, date], Decimal] = {}
    info: dict[str, tuple[str, str, list[str], str | None]] = {}
    section: str | None = None
    section_level = -1
    section_sums: dict[date, Decimal] = {}
    stack: list[tuple[str, int, dict[date, Decimal]]] = []  # open parent accounts
    sections_seen: set[str] = set()
    problems: list[str] = []
    parent_numbers: dict[str, str | None] = {}

    def compare(line: int, label: str, said: dict[date, Decimal], got: dict[date, Decimal]):
        for _, month in month_cols:
            a, b = said.get(month, Decimal(0)), got.get(month, Decimal(0))
            if a != b:
                problems.append(
                    f"line {line} ({label!r}) is {a:,.2f} in {month:%b %Y} but the rows above "
                    f"it add up to {b:,.2f}"
                )
                return

    for line, row in body:
        level, raw_label = _label(row, first_amount_col)
        if not raw_label:
            continue
        label = _strip_numbers(raw_label)
        lower = label.lower()
        values: dict[date, Decimal] = {}
        for col, month in month_cols:
            cell = row[col] if col < len(row) else None
            try:
                amount = pnl.to_amount(cell)
            except ValueError as exc:
                raise FileRefused(
                    f"{name}: line {line} ({raw_label!r}): {_text(cell)[:40]!r} under "
                    f"'{month:%b %y}' {_why(exc)}"
                ) from None
            if amount is not None:
                values[month] = amount
        row_total = None
        if total_col is not None and total_col < len(row):
            try:
                row_total = pnl.to_amount(row[total_col])
            except ValueError as exc:
                raise FileRefused(
                    f"{name}: line {line} ({raw_label!r}): {_text(row[total_col])[:40]!r} "
                    f"under 'TOTAL' {_why(exc)}"
                ) from None
        if row_total is not None and row_total != sum(values.values(), Decimal(0)):
            problems.append(
                f"line {line} ({raw_label!r}): its TOTAL {row_total:,.2f} is not the sum of "
                f"its months {sum(values.values(), Decimal(0)):,.2f}"
            )
        if lower in STRUCTURAL or lower in COMPUTED:
            continue
        if lower in SECTION_HEADERS and not values:
            section, section_level, stack = SECTION_HEADERS[lower], level, []
            section_sums = {}
            sections_seen.add(section)
            continue
        if lower.startswith("total "):
            closed = label[6:].strip()
            if closed.lower() in SECTION_HEADERS or closed.lower() == "cogs":
                if section is not None and values:
                    compare(line, raw_label, values, section_sums)
                section, stack = None, []
            else:
                names = [n for n, _, _ in stack]
                if closed in names:
                    index = names.index(closed)
                    if values:
                        compare(line, raw_label, values, stack[index][2])
                    del stack[index:]
            continue
        if section is None:
            if values:
                raise FileRefused(
                    f"{name}: line {line} ({raw_label!r}) has amounts but is outside the "
                    "Income / Cost of Goods Sold / Expense / Other Income / Other Expense sections"
                )
            continue
        if use_levels:
            while stack and stack[-1][1] >= level:
                stack.pop()
            if level <= section_level:
                section, stack = None, []
                continue
        parents = [n for n, _, _ in stack]
        if not values:  # a parent account's header row
            stack.append((label, level, {}))
            parent_numbers[":".join([*parents, label])] = _account_number(raw_label)
            continue
        number = _account_number(raw_label)
        if parents and label == parents[-1] + PARENT_OWN_SUFFIX:
            path = parents
            number = parent_numbers.get(":".join(parents))
        else:
            path = parents + [p.strip() for p in label.split(":") if p.strip()]
        key = ":".join(path)
        previous = info.get(key)
        info[key] = (path[-1], section, path, number or (previous[3] if previous else None))
        for month, amount in values.items():
            amounts[(key, month)] = amounts.get((key, month), Decimal(0)) + amount
            section_sums[month] = section_sums.get(month, Decimal(0)) + amount
            for _, _, sums in stack:
                sums[month] = sums.get(month, Decimal(0)) + amount

    missing = [s for s in ("Income", "Expenses") if s not in sections_seen]
    if missing:
        wanted = {"Income": "'Income'", "Expenses": "'Expense'"}
        raise FileRefused(
            f"{name}: no {' or '.join(wanted[m] for m in missing)} section row - "
            "not a QuickBooks 'Profit & Loss by Month' export"
        )
    if not info:
        raise FileRefused(f"{name}: no account rows with amounts")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise FileRefused(
            f"{name}: the report does not add up: {problems[0]}{more} - the file was edited "
            "or is not laid out as QuickBooks exports it"
        )
    loaded_at = datetime.now(UTC)
    rows = [
        pnl.pnl_row(
            origin="desktop",
            account_key=key,
            account_id=None,
            account_name=info[key][0],
            account_number=info[key][3],
            section=info[key][1],
            path=info[key][2],
            month=month,
            amount=amount,
            accounting_method=method,
            source_file=name,
            loaded_at=loaded_at,
        )
        for (key, month), amount in sorted(amounts.items(), key=lambda kv: (kv[0][0], kv[0][1]))
        if amount
    ]
    return ParsedReport(
        rows=rows,
        months=[m for _, m in month_cols],
        accounting_method=method,
        company=company,
        accounts=len(info),
        warnings=warnings,
    )


def _why(exc: ValueError) -> str:
    text = str(exc)
    if "finite" in text:
        return "is not a finite number"
    if "out of range" in text:
        return "is out of range (amounts have at most 28 digits before the decimal point)"
    return "is not an amount"


def _strip_numbers(label: str) -> str:
    """`6000 · Payroll:6010 · Wages` -> `Payroll:Wages`; `Total 4000 · Sales` -> `Total Sales`."""
    prefix = ""
    if label.lower().startswith("total "):
        prefix, label = label[:6], label[6:]
    parts = [pnl.split_account_number(part)[1] for part in label.split(":")]
    return prefix + ":".join(parts)


def _account_number(label: str) -> str | None:
    """The account's own number (the last part of `Parent:Child`)."""
    return pnl.split_account_number(label.split(":")[-1])[0]


# --- loading ---------------------------------------------------------------------------
