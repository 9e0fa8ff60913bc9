"""QuickBooks Desktop "Profit & Loss by Month" exports -> raw_quickbooks.profit_and_loss.

QuickBooks Desktop has no REST API; its users export the report to CSV or
Excel. Two ways in, same result (origin `desktop`, same raw shape as the
Online report; see pnl.py):

- `qbr import quickbooks-pl FILE` (`import_cli`), and
- the drop folder `<home>/imports/quickbooks/`: every refresh runs a
  `quickbooks_desktop` step that imports each file found there and moves it
  to `processed/` (or, when refused, to `refused/` with a `.error.txt`).
  A step of its own, so a refused file fails only the import, never the
  QuickBooks Online load.

The layout read (what QuickBooks Desktop writes):

    Enersystems, LLC
    Profit & Loss
    January through December 2025
    Accrual Basis
    <blank>, Jan 25, Feb 25, ..., TOTAL
    Ordinary Income/Expense
      Income
        Managed Services Income          (a parent: no amounts)
          Managed Security Income, 1,234.56, ...
          Managed Services Income - Other, ...   (the parent's own postings)
        Total Managed Services Income, ...
        Hardware Sales, ...
      Total Income, ...
      Cost of Goods Sold ... Total COGS / Gross Profit
      Expense ... Total Expense
    Net Ordinary Income
    Other Income/Expense
      Other Income ... Total Other Income
      Other Expense ... Total Other Expense
    Net Other Income
    Net Income

Indentation is either leading blank cells (one column per level) or leading
spaces; sub-accounts may also be written `Parent:Child`. Amounts look like
`1,234.56`, `(200.00)` for negatives, or are numbers (Excel). Months without
an amount are blank. Re-importing a file replaces the same months (merge key
origin + month), so it is idempotent.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt

from dlt_pipelines import pnl
from dlt_pipelines.constants import (
    DESKTOP_DONE_FOLDER,
    DESKTOP_DROP_FOLDER,
    DESKTOP_REFUSED_FOLDER,
    DESKTOP_SUFFIXES,
)
from dlt_pipelines.errors import FileRefused, SourceError

log = logging.getLogger("dlt_pipelines.quickbooks_desktop")
LABEL = "QuickBooks Desktop import"

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
#: "Jan 25", "Jan 2025", "January 2025", "Jan '25", "Jan 1 - 15, 25" (a partial month)
MONTH_RE = re.compile(
    r"^(?P<mon>[A-Za-z]{3,9})\.?\s+(?:\d{1,2}\s*-\s*\d{1,2},?\s*)?'?(?P<year>\d{2}|\d{4})$"
)
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


def read_cells(path: Path) -> list[list[Any]]:
    """The sheet as rows of cells (str, number, date or None)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        return [list(r) for r in csv.reader(io.StringIO(text))]
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise FileRefused(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
        try:
            sheet = book.worksheets[0]
            return [list(r) for r in sheet.iter_rows(values_only=True)]
        finally:
            book.close()
    raise FileRefused(f"{path.name}: only .csv and .xlsx exports can be imported")


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return " ".join(str(cell).replace("\xa0", " ").split())


def month_of(cell: Any) -> date | None:
    """The month a header cell names, or None."""
    if isinstance(cell, datetime | date):
        return date(cell.year, cell.month, 1)
    match = MONTH_RE.match(_text(cell))
    if not match or match["mon"].lower() not in MONTHS:
        return None
    year = int(match["year"])
    year += 2000 if year < 100 else 0
    return date(year, MONTHS[match["mon"].lower()], 1)


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


# --- parsing ---------------------------------------------------------------------------


def parse(path: Path, source_file: str | None = None) -> ParsedReport:
    """Parse an export; raises FileRefused naming what is missing."""
    name = source_file or path.name
    cells = read_cells(path)
    cells = [r for r in cells if any(_text(c) for c in r)]
    if not cells:
        raise FileRefused(f"{name}: the file is empty")

    header_index = None
    month_cols: list[tuple[int, date]] = []
    for index, row in enumerate(cells[:40]):
        found = [(i, m) for i, c in enumerate(row) if (m := month_of(c)) is not None]
        if found:
            header_index, month_cols = index, found
            break
    title_rows = cells[:header_index] if header_index is not None else cells[:6]
    titles = [_text(c) for r in title_rows for c in r if _text(c)]
    title_text = " | ".join(titles).lower()
    for other in OTHER_REPORTS:
        if other in title_text and "profit" not in title_text:
            raise FileRefused(
                f"{name}: this is a '{other.title()}' report, not 'Profit & Loss by Month'"
            )
    if header_index is None:
        raise FileRefused(
            f"{name}: no header row with month columns such as 'Jan 25' - export the "
            "'Profit & Loss' report with columns 'Month' (Profit & Loss by Month)"
        )
    if len({m for _, m in month_cols}) != len(month_cols):
        raise FileRefused(f"{name}: the header row repeats a month")
    method = "Cash" if "cash basis" in title_text else "Accrual"
    company = titles[0] if titles else None
    first_amount_col = min(i for i, _ in month_cols)
    body = cells[header_index + 1 :]
    levels = {_label(r, first_amount_col)[0] for r in body if _label(r, first_amount_col)[1]}
    use_levels = len(levels) > 1

    amounts: dict[tuple[str, date], Decimal] = {}
    info: dict[str, tuple[str, str, list[str]]] = {}  # key -> (name, section, path)
    section: str | None = None
    section_level = -1
    stack: list[tuple[str, int]] = []  # open parent accounts
    sections_seen: set[str] = set()
    for offset, row in enumerate(body):
        line = header_index + offset + 2
        level, label = _label(row, first_amount_col)
        if not label:
            continue
        lower = label.lower()
        values: dict[date, Decimal] = {}
        for col, month in month_cols:
            cell = row[col] if col < len(row) else None
            try:
                amount = pnl.to_amount(cell)
            except ValueError:
                raise FileRefused(
                    f"{name}: line {line} ({label!r}): {_text(cell)!r} under "
                    f"'{month:%b %y}' is not an amount"
                ) from None
            if amount is not None:
                values[month] = amount
        if lower in STRUCTURAL or lower in COMPUTED:
            continue
        if lower in SECTION_HEADERS and not values:
            section, section_level, stack = SECTION_HEADERS[lower], level, []
            sections_seen.add(section)
            continue
        if lower.startswith("total "):
            closed = label[6:].strip()
            if closed.lower() in SECTION_HEADERS:
                section, stack = None, []
            else:
                names = [n for n, _ in stack]
                if closed in names:
                    del stack[names.index(closed) :]
            continue
        if section is None:
            if values:
                raise FileRefused(
                    f"{name}: line {line} ({label!r}) has amounts but is outside the "
                    "Income / Cost of Goods Sold / Expense / Other Income / Other Expense sections"
                )
            continue
        if use_levels:
            while stack and stack[-1][1] >= level:
                stack.pop()
            if level <= section_level:
                section, stack = None, []
                continue
        parents = [n for n, _ in stack]
        if not values:  # a parent account's header row
            stack.append((label, level))
            continue
        if parents and label == parents[-1] + PARENT_OWN_SUFFIX:
            path = parents
        else:
            path = parents + [p.strip() for p in label.split(":") if p.strip()]
        key = ":".join(path)
        info[key] = (path[-1], section, path)
        for month, amount in values.items():
            amounts[(key, month)] = amounts.get((key, month), Decimal(0)) + amount

    missing = [s for s in ("Income", "Expenses") if s not in sections_seen]
    if missing:
        wanted = {"Income": "'Income'", "Expenses": "'Expense'"}
        raise FileRefused(
            f"{name}: no {' or '.join(wanted[m] for m in missing)} section row - "
            "not a QuickBooks 'Profit & Loss by Month' export"
        )
    if not info:
        raise FileRefused(f"{name}: no account rows with amounts")
    loaded_at = datetime.now(UTC)
    rows = [
        pnl.pnl_row(
            origin="desktop",
            account_key=key,
            account_id=None,
            account_name=info[key][0],
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
    )


# --- loading ---------------------------------------------------------------------------


@dlt.source(name="quickbooks_desktop", max_table_nesting=0)
def desktop_source(rows: list[dict[str, Any]]) -> Any:
    return pnl.pnl_resource(rows)


def import_file(settings: Any, path: Path) -> Any:
    """Parse and load one export; returns the runner's LoadResult."""
    from dlt_pipelines.runner import run_source

    parsed = parse(path)
    result = run_source(
        settings, "quickbooks_desktop", lambda context: desktop_source(parsed.rows), label=LABEL
    )
    result.details.update(
        {
            "file": path.name,
            "months": [m.isoformat() for m in parsed.months],
            "accounts": parsed.accounts,
            "accounting_method": parsed.accounting_method,
        }
    )
    return result


def drop_folder(settings: Any) -> Path:
    return Path(settings.home).joinpath(*DESKTOP_DROP_FOLDER)


def pending_files(settings: Any) -> list[Path]:
    folder = drop_folder(settings)
    if not folder.is_dir():
        return []
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in DESKTOP_SUFFIXES and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"{stamp}-{path.name}"
    shutil.move(str(path), target)
    return target


def import_drop_folder(settings: Any) -> Any:
    """The `quickbooks_desktop` refresh step: import every file in the drop folder."""
    from dlt_pipelines.runner import LoadResult

    files = pending_files(settings)
    total = LoadResult("quickbooks_desktop", 0, {"folder": str(drop_folder(settings)), "files": []})
    refused: list[str] = []
    for path in files:
        try:
            result = import_file(settings, path)
        except FileRefused as exc:
            moved = _move(path, DESKTOP_REFUSED_FOLDER)
            moved.with_name(moved.name + ".error.txt").write_text(str(exc) + "\n")
            refused.append(str(exc))
            total.details["files"].append(
                {"file": path.name, "status": "refused", "error": str(exc)}
            )
            continue
        _move(path, DESKTOP_DONE_FOLDER)
        total.rows_loaded += result.rows_loaded
        total.details["files"].append(
            {"file": path.name, "status": "imported", "rows": result.rows_loaded, **{
                k: result.details[k] for k in ("months", "accounts", "accounting_method")
            }}
        )  # fmt: skip
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise SourceError(
            f"{LABEL}: refused {refused[0]}{more}; moved to "
            f"{drop_folder(settings) / DESKTOP_REFUSED_FOLDER}"
        )
    return total


def is_configured(settings: Any) -> bool:
    """True when files wait in the drop folder (the step has something to do)."""
    return bool(pending_files(settings))


def import_cli(settings: Any, args: Any) -> int:
    """`qbr import quickbooks-pl FILE`."""
    from qbr import db

    path = Path(args.file).expanduser()
    if not path.is_file():
        print(f"error: {path} does not exist")
        return 2
    db.prepare(settings)
    try:
        result = import_file(settings, path)
    except SourceError as exc:
        print(f"error: {exc}")
        return 1
    months = result.details["months"]
    print(
        f"imported {result.rows_loaded} rows ({result.details['accounts']} accounts, "
        f"{months[0][:7]} to {months[-1][:7]}, {result.details['accounting_method']}) "
        f"from {path.name} into raw_quickbooks.profit_and_loss (origin 'desktop')"
    )
    print("run `qbr refresh` (or wait for the scheduled one) to rebuild the marts")
    return 0
