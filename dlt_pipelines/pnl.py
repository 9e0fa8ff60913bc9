"""The monthly Profit & Loss in one raw shape, whatever it came from.

`raw_quickbooks.profit_and_loss` holds one row per (origin, account_key,
month) - docs/contracts.md section 2:

| column            | online (QBO report)              | desktop (imported export)          |
|-------------------|----------------------------------|------------------------------------|
| origin            | `online`                         | `desktop`                          |
| account_key       | the QBO account id               | the full name, `Parent:Child`      |
| account_id        | the QBO account id               | null                               |
| account_name      | the account's own name           | the account's own name             |
| account_number    | a leading account number (`4000 Sales` / `4000 · Sales`) or null, removed from the name |
| section           | Income, COGS, Expenses, OtherIncome, OtherExpenses               |
| section_path      | `Expenses/Payroll Expenses/Officer Payroll` (section, parents, account) |
| month             | first day of the month                                                |
| amount            | as shown in the report (expenses positive)                            |
| accounting_method | Accrual or Cash                                                       |
| source_file       | null                             | the file's name                    |
| loaded_at         | when the row was (re)written                                          |

Only non-zero cells become rows. Every load replaces whole months: the merge
key (origin, month) deletes the months it brings before inserting them, so an
account whose amount went back to zero disappears from that month.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import dlt

from dlt_pipelines.errors import SourceError

#: top-level report groups that hold accounts (computed rows like GrossProfit do not)
SECTIONS = ("Income", "COGS", "Expenses", "OtherIncome", "OtherExpenses")
TABLE = "profit_and_loss"
PRIMARY_KEY = ("origin", "account_key", "month")
MERGE_KEY = ("origin", "month")

COLUMNS: dict[str, dict[str, Any]] = {
    "origin": {"data_type": "text", "nullable": False},
    "account_key": {"data_type": "text", "nullable": False},
    "account_id": {"data_type": "text", "nullable": True},
    "account_name": {"data_type": "text", "nullable": False},
    "account_number": {"data_type": "text", "nullable": True},
    "section": {"data_type": "text", "nullable": False},
    "section_path": {"data_type": "text", "nullable": False},
    "month": {"data_type": "date", "nullable": False},
    "amount": {"data_type": "decimal", "nullable": False},
    "accounting_method": {"data_type": "text", "nullable": False},
    "source_file": {"data_type": "text", "nullable": True},
    "loaded_at": {"data_type": "timestamp", "nullable": False},
}


def pnl_resource(rows: Any, name: str = TABLE) -> Any:
    """A resource writing `profit_and_loss` rows (an iterable or a generator function)."""
    return dlt.resource(
        rows,
        name=name,
        table_name=TABLE,
        write_disposition="merge",
        primary_key=list(PRIMARY_KEY),
        merge_key=list(MERGE_KEY),
        columns=COLUMNS,
        max_table_nesting=0,
    )


def pnl_row(
    *,
    origin: str,
    account_key: str,
    account_id: str | None,
    account_name: str,
    section: str,
    account_number: str | None = None,
    path: list[str],
    month: date,
    amount: Decimal,
    accounting_method: str,
    source_file: str | None = None,
    loaded_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "origin": origin,
        "account_key": account_key,
        "account_id": account_id,
        "account_name": account_name,
        "account_number": account_number,
        "section": section,
        "section_path": "/".join([section, *path]),
        "month": month,
        "amount": amount,
        "accounting_method": accounting_method,
        "source_file": source_file,
        "loaded_at": loaded_at or datetime.now(UTC),
    }


#: the largest amount the raw column holds (dlt's decimal is numeric(38, 9))
MAX_AMOUNT = Decimal(10) ** 29
_DIGITS = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^\.\d+$")


def to_amount(value: Any) -> Decimal | None:
    """An amount as QuickBooks writes one -> Decimal; blank -> None.

    Text: `1,234.56`, `$5`, negatives as `(219.00)`, `-219.00` or `219.00-`.
    Numbers (Excel cells) as they are. Raises ValueError for anything else,
    for non-finite numbers (NaN, Infinity) and for amounts too large for the
    raw column (1e30, 41-digit numbers)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite amount: {value!r}")
        amount = Decimal(repr(value))
    elif isinstance(value, Decimal):
        amount = value
    else:
        text = str(value).replace("\xa0", " ").strip().replace(" ", "").replace("$", "")
        if not text:
            return None
        negative = False
        if text.startswith("(") and text.endswith(")"):
            negative, text = True, text[1:-1]
        if text.startswith("-"):
            negative, text = not negative, text[1:]
        elif text.endswith("-"):
            negative, text = not negative, text[:-1]
        elif text.startswith("+"):
            text = text[1:]
        if not _DIGITS.match(text):
            raise ValueError(f"not an amount: {value!r}")
        amount = Decimal(text.replace(",", ""))
        amount = -amount if negative else amount
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"amount out of range: {str(value)[:24]!r}")
    return amount.quantize(CENT, ROUND_HALF_UP) if amount.as_tuple().exponent < -2 else amount


CENT = Decimal("0.01")

#: `4000 · Sales` (Desktop, middle dot U+00B7) or `4000 Sales` (Online with
#: account numbers shown): a leading account number, kept apart from the name
_NUMBERED = re.compile(r"^(?P<number>\d+(?:[.\-]\d+)*)\s*\u00b7\s*(?P<name>\S.*)$")
_NUMBERED_SPACE = re.compile(r"^(?P<number>\d{3,}(?:[.\-]\d+)*)\s+(?P<name>[^\d\s].*)$")


def split_account_number(label: str, *, allow_space: bool = False) -> tuple[str | None, str]:
    """(account number or None, name without it). `4000 · Sales` -> ('4000', 'Sales');
    with `allow_space` (the Online report) also `4000 Sales`."""
    text = " ".join(label.replace("\xa0", " ").split())
    match = _NUMBERED.match(text) or (_NUMBERED_SPACE.match(text) if allow_space else None)
    if match:
        return match["number"], match["name"].strip()
    return None, text


# --- QuickBooks Online report JSON --------------------------------------------------


class ReportMismatch(SourceError):
    """The report's rows do not add up to its own Summary totals."""


def no_report_data(report: dict) -> bool:
    """True for the service's empty report (`NoReportData` option)."""
    options = (report.get("Header") or {}).get("Option") or []
    return any(
        isinstance(o, dict)
        and o.get("Name") == "NoReportData"
        and str(o.get("Value")).lower() == "true"
        for o in options
    )


def report_months(report: dict) -> list[tuple[int, date]]:
    """(ColData index, first of month) for every month column (not Total)."""
    out: list[tuple[int, date]] = []
    for index, column in enumerate(report.get("Columns", {}).get("Column", [])):
        meta = {m.get("Name"): m.get("Value") for m in column.get("MetaData") or []}
        start = meta.get("StartDate")
        if column.get("ColType") != "Money":
            continue
        if start:
            out.append((index, date.fromisoformat(start[:10]).replace(day=1)))
            continue
        try:  # no MetaData: the title, "Jan 2025"
            first = datetime.strptime(str(column.get("ColTitle")), "%b %Y").date()
        except ValueError:
            continue  # the Total column
        out.append((index, first))
    return out


def _money_columns(report: dict) -> list[tuple[int, str]]:
    """(ColData index, title) of every Money column: months and Total."""
    out = []
    for index, column in enumerate(report.get("Columns", {}).get("Column", [])):
        if column.get("ColType") == "Money":
            out.append((index, str(column.get("ColTitle") or f"column {index}")))
    return out


#: computed top-level rows and how they follow from the sections' totals
COMPUTED_GROUPS = {
    "GrossProfit": (("Income", 1), ("COGS", -1)),
    "NetOperatingIncome": (("Income", 1), ("COGS", -1), ("Expenses", -1)),
    "NetOtherIncome": (("OtherIncome", 1), ("OtherExpenses", -1)),
    "NetIncome": (
        ("Income", 1), ("COGS", -1), ("Expenses", -1), ("OtherIncome", 1), ("OtherExpenses", -1),
    ),
}  # fmt: skip


def flatten_report(
    report: dict,
    accounting_method: str,
    loaded_at: datetime | None = None,
    window: tuple[date, date] | None = None,
) -> list[dict[str, Any]]:
    """One row per (account, month) with a non-zero amount in a ProfitAndLoss
    report summarized by month (only months inside `window` when given).

    A parent account's own postings are the amounts in its section's Header
    (the real shape); a parent whose sub-accounts had no activity is a plain
    Data row. Before anything is returned, every section's leaves (data rows
    and header amounts) must add up to its Summary in every month and the Total
    column, to the cent, and the computed rows (Gross Profit, Net Income, ...)
    to their sections: otherwise `ReportMismatch` names the first difference.
    """
    if no_report_data(report):
        return []
    months = report_months(report)
    month_of_index = dict(months)
    money = _money_columns(report)
    if (report.get("Rows") or {}).get("Row") and not months:
        raise ReportMismatch(
            "the ProfitAndLoss report has no month columns (asked summarize_column_by=Month); "
            "nothing was loaded, the previous P&L is kept"
        )
    titles = dict(money)
    loaded_at = loaded_at or datetime.now(UTC)
    amounts: dict[tuple[str, date], Decimal] = {}
    info: dict[str, dict[str, Any]] = {}
    problems: list[str] = []

    def values(cells: list[dict], where: str) -> dict[int, Decimal]:
        out: dict[int, Decimal] = {}
        for index, _ in money:
            cell = cells[index] if index < len(cells) else None
            raw = cell.get("value") if isinstance(cell, dict) else None
            try:
                amount = to_amount(raw)
            except ValueError:
                raise ReportMismatch(
                    f"the ProfitAndLoss report has {raw!r} in {where} ({titles[index]}), "
                    "not an amount; nothing was loaded, the previous P&L is kept"
                ) from None
            if amount:
                out[index] = amount
        return out

    def add(into: dict[int, Decimal], more: dict[int, Decimal]) -> None:
        for index, amount in more.items():
            into[index] = into.get(index, Decimal(0)) + amount

    def check(
        where: str,
        leaves: dict[int, Decimal],
        summary: dict[int, Decimal],
        parts: str = "the rows",
        whole: str = "its Summary",
    ) -> None:
        for index, title in money:
            if index not in leaves and index not in summary:
                continue
            got, said = leaves.get(index, Decimal(0)), summary.get(index, Decimal(0))
            if got.quantize(CENT) != said.quantize(CENT):
                problems.append(
                    f"{where}, {title}: {parts} add up to {got:,.2f} but {whole} says {said:,.2f}"
                )

    def emit(
        cells: dict[int, Decimal],
        cell0: dict,
        section: str,
        parents: list[str],
        where: str,
        own_of_parent: bool = False,
    ) -> None:
        number, name = split_account_number(str(cell0.get("value") or ""), allow_space=True)
        account_id = cell0.get("id")
        # (a parent's own postings as a data row of the same id: older captures)
        path = list(parents) if own_of_parent and parents else [*parents, name]
        key = str(account_id) if account_id else ":".join(path)
        info[key] = {
            "account_id": str(account_id) if account_id else None,
            "account_name": name,
            "account_number": number,
            "section": section,
            "path": path,
        }
        month_values = [(month_of_index[i], v) for i, v in cells.items() if i in month_of_index]
        if cells and month_values and len(money) > len(months):
            total_index = next(i for i, _ in money if i not in month_of_index)
            check(
                where,
                {total_index: sum((v for _, v in month_values), Decimal(0))},
                {total_index: cells.get(total_index, Decimal(0))},
                "the months",
                "its Total column",
            )
        for month, amount in month_values:
            amounts[(key, month)] = amounts.get((key, month), Decimal(0)) + amount

    def walk(
        rows: list, section: str, parents: list[str], where: str, parent_id: Any = None
    ) -> dict[int, Decimal]:
        """Emits the accounts under `rows`; returns their sum per money column."""
        total: dict[int, Decimal] = {}
        for row in rows:
            if not isinstance(row, dict):
                continue
            inner = (row.get("Rows") or {}).get("Row")
            header = (row.get("Header") or {}).get("ColData") or []
            if inner is not None or row.get("type") == "Section" or header:
                cell0 = header[0] if header else {}
                _, name = split_account_number(str(cell0.get("value") or ""), allow_space=True)
                here = f"{where} / {name}"
                leaves = values(header, here) if header else {}
                if leaves:  # the parent's own postings
                    emit(leaves, cell0, section, parents, here)
                add(leaves, walk(inner or [], section, [*parents, name], here, cell0.get("id")))
                summary = (row.get("Summary") or {}).get("ColData")
                if summary is None:
                    problems.append(f"{here}: a section without a Summary row")
                else:
                    check(here, leaves, values(summary, f"{here} (Summary)"))
                add(total, leaves)
                continue
            cells = row.get("ColData") or []
            if not cells:
                continue
            label = str(cells[0].get("value") or "").strip()
            found = values(cells, f"{where} / {label}")
            if found:
                own = parent_id is not None and cells[0].get("id") == parent_id
                emit(found, cells[0], section, parents, f"{where} / {label}", own)
            add(total, found)
        return total

    group_totals: dict[str, dict[int, Decimal]] = {}

    def top(rows: list) -> None:
        for row in rows:
            if not isinstance(row, dict):
                continue
            group = row.get("group")
            inner = (row.get("Rows") or {}).get("Row")
            summary = (row.get("Summary") or {}).get("ColData")
            if group in SECTIONS:
                leaves = walk(inner or [], group, [], group)
                if summary is None:
                    if inner:
                        problems.append(f"{group}: a section without a Summary row")
                else:
                    check(group, leaves, values(summary, f"{group} (Summary)"))
                group_totals[group] = leaves
            elif group in COMPUTED_GROUPS:
                if summary is not None:
                    group_totals[group] = values(summary, group)
            elif inner:  # a wrapper such as "Ordinary Income/Expenses"
                top(inner)

    top((report.get("Rows") or {}).get("Row") or [])
    for group, parts in COMPUTED_GROUPS.items():
        if group not in group_totals:
            continue
        expected: dict[int, Decimal] = {}
        for part, sign in parts:
            add(expected, {i: sign * v for i, v in group_totals.get(part, {}).items()})
        check(group, expected, group_totals[group], "its sections", "the report")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReportMismatch(
            f"the ProfitAndLoss report ({accounting_method}) does not reconcile: "
            f"{problems[0]}{more}; nothing was loaded, the previous P&L is kept"
        )
    out = []
    for (key, month), amount in sorted(amounts.items()):
        if not amount or (window and not window[0] <= month <= window[1]):
            continue
        item = info[key]
        out.append(
            pnl_row(
                origin="online",
                account_key=key,
                account_id=item["account_id"],
                account_name=item["account_name"],
                account_number=item["account_number"],
                section=item["section"],
                path=item["path"],
                month=month,
                amount=amount,
                accounting_method=accounting_method,
                loaded_at=loaded_at,
            )
        )
    return out


def month_windows(first: date, last: date, size: int) -> list[tuple[date, date]]:
    """[first, last] month range cut into windows of at most `size` months:
    (first day, last day) each."""
    windows: list[tuple[date, date]] = []
    current = first.replace(day=1)
    while current <= last:
        months = [current]
        while len(months) < size and add_months(months[-1], 1) <= last:
            months.append(add_months(months[-1], 1))
        end = add_months(months[-1], 1)
        windows.append((months[0], date.fromordinal(end.toordinal() - 1)))
        current = end
    return windows


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)
