"""The monthly Profit & Loss in one raw shape, whatever it came from.

`raw_quickbooks.profit_and_loss` holds one row per (origin, account_key,
month) - docs/contracts.md section 2:

| column            | online (QBO report)              | desktop (imported export)          |
|-------------------|----------------------------------|------------------------------------|
| origin            | `online`                         | `desktop`                          |
| account_key       | the QBO account id               | the full name, `Parent:Child`      |
| account_id        | the QBO account id               | null                               |
| account_name      | the account's own name           | the account's own name             |
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

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import dlt

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
        "section": section,
        "section_path": "/".join([section, *path]),
        "month": month,
        "amount": amount,
        "accounting_method": accounting_method,
        "source_file": source_file,
        "loaded_at": loaded_at or datetime.now(UTC),
    }


def to_amount(value: Any) -> Decimal | None:
    """`1,234.56`, `(200.00)`, `-200`, `$5` or a number -> Decimal; blank -> None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(round(value, 2)))
    text = str(value).strip().replace(",", "").replace("$", "").replace(" ", "")
    if not text:
        return None
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1]
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
    return -amount if negative else amount


# --- QuickBooks Online report JSON --------------------------------------------------


def report_months(report: dict) -> list[tuple[int, date]]:
    """(ColData index, first of month) for every month column (not Total)."""
    out: list[tuple[int, date]] = []
    for index, column in enumerate(report.get("Columns", {}).get("Column", [])):
        meta = {m.get("Name"): m.get("Value") for m in column.get("MetaData") or []}
        start = meta.get("StartDate")
        if column.get("ColType") != "Money" or not start:
            continue
        first = date.fromisoformat(start[:10]).replace(day=1)
        out.append((index, first))
    return out


def flatten_report(
    report: dict, accounting_method: str, loaded_at: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """One row per (account, month) with a non-zero amount in a ProfitAndLoss
    report summarized by month."""
    months = report_months(report)
    loaded_at = loaded_at or datetime.now(UTC)

    def walk(
        rows: list[dict], section: str | None, parents: list[tuple[str, str | None]]
    ) -> Iterator[dict[str, Any]]:
        for row in rows:
            if not isinstance(row, dict):
                continue
            inner = (row.get("Rows") or {}).get("Row")
            if section is None:  # top level: a group
                group = row.get("group")
                if group in SECTIONS and inner:
                    yield from walk(inner, group, [])
                continue
            if inner is not None or row.get("type") == "Section":
                header = ((row.get("Header") or {}).get("ColData") or [{}])[0]
                label = (header.get("value") or "").strip()
                yield from walk(inner or [], section, [*parents, (label, header.get("id"))])
                continue
            cells = row.get("ColData") or []
            if not cells:
                continue
            first = cells[0]
            name = (first.get("value") or "").strip()
            account_id = first.get("id")
            path = [p for p, _ in parents]
            # a parent's own postings appear inside its section under its own name
            if not (parents and parents[-1][1] is not None and parents[-1][1] == account_id):
                path.append(name)
            for index, month in months:
                if index >= len(cells):
                    continue
                amount = to_amount(cells[index].get("value"))
                if not amount:
                    continue
                yield pnl_row(
                    origin="online",
                    account_key=str(account_id) if account_id else ":".join(path),
                    account_id=str(account_id) if account_id else None,
                    account_name=name,
                    section=section,
                    path=path,
                    month=month,
                    amount=amount,
                    accounting_method=accounting_method,
                    loaded_at=loaded_at,
                )

    yield from walk(report.get("Rows", {}).get("Row", []), None, [])


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
