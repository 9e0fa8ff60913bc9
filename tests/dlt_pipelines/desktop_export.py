"""Write a QuickBooks Desktop "Profit & Loss by Month" export from a sandbox MSP.

The test data for the Desktop import is derived, never hand-typed: the same
books the QuickBooks Online imitation reports (`msp.profit_and_loss`, the
chart in `msp.qbo_accounts`) laid out the way QuickBooks Desktop exports them
(title rows, a month header with TOTAL, indented sections and accounts,
parents with `Total ...` rows and `Parent - Other` for their own postings,
`1,234.56` / `(200.00)` amounts in CSV, numbers in Excel).

    python -m tests.dlt_pipelines.desktop_export OUT_DIR [--months N]

writes `profit_and_loss_by_month.csv` and `.xlsx` for the last N complete
months of the `small` sandbox (how dlt_pipelines/examples/ was made).
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

#: QuickBooks account type -> (Desktop section title, total row title)
SECTIONS = {
    "Income": ("Income", "Total Income"),
    "Cost of Goods Sold": ("Cost of Goods Sold", "Total COGS"),
    "Expense": ("Expense", "Total Expense"),
    "Other Income": ("Other Income", "Total Other Income"),
    "Other Expense": ("Other Expense", "Total Other Expense"),
}
LABEL_COLUMNS = 5  # indentation: one leading column per level


def months_between(first: date, last: date) -> list[date]:
    out, current = [], first.replace(day=1)
    while current <= last:
        out.append(current)
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return out


def _money(value: Decimal | None) -> str:
    if value is None or value == 0:
        return ""
    text = f"{abs(value):,.2f}"
    return f"({text})" if value < 0 else text


def build_rows(
    msp: Any, first: date, last: date, company: str = "Enersystems, LLC", basis: str = "Accrual"
) -> list[tuple[int | None, str, list[Decimal | None]]]:
    """(indent level or None for title rows, label, amounts per month + total)."""
    months = months_between(first, last)
    end = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    from datetime import timedelta

    pnl = msp.profit_and_loss(months[0], end - timedelta(days=1))
    accounts = {str(a["Id"]): a for a in msp.qbo_accounts}
    children: dict[str | None, list[str]] = {}
    for account_id, account in accounts.items():
        parent = (account.get("ParentRef") or {}).get("value")
        parent = str(parent) if parent and str(parent) in accounts else None
        children.setdefault(parent, []).append(account_id)
    for ids in children.values():
        ids.sort(key=lambda i: accounts[i]["Name"])

    def own(account_id: str) -> list[Decimal]:
        return [Decimal(str(pnl.get((account_id, m), 0))) for m in months]

    def total(account_id: str) -> list[Decimal]:
        sums = own(account_id)
        for child in children.get(account_id, []):
            sums = [a + b for a, b in zip(sums, total(child), strict=True)]
        return sums

    def with_total(values: list[Decimal]) -> list[Decimal | None]:
        return [*values, sum(values, Decimal(0))]

    rows: list[tuple[int | None, str, list[Decimal | None]]] = [
        (None, company, []),
        (None, "Profit & Loss", []),
        (None, f"{months[0]:%B %Y} through {months[-1]:%B %Y}", []),
        (None, f"{basis} Basis", []),
    ]

    def account_rows(account_id: str, level: int) -> None:
        name = accounts[account_id]["Name"]
        kids = [k for k in children.get(account_id, []) if any(total(k))]
        if not kids:
            rows.append((level, name, with_total(own(account_id))))
            return
        rows.append((level, name, []))
        for kid in kids:
            account_rows(kid, level + 1)
        if any(own(account_id)):
            rows.append((level + 1, f"{name} - Other", with_total(own(account_id))))
        rows.append((level, f"Total {name}", with_total(total(account_id))))

    def section(account_type: str, level: int) -> list[Decimal]:
        title, total_title = SECTIONS[account_type]
        tops = [
            a
            for a in children.get(None, [])
            if accounts[a].get("AccountType") == account_type and any(total(a))
        ]
        sums = [Decimal(0)] * len(months)
        rows.append((level, title, []))
        for top in tops:
            account_rows(top, level + 1)
            sums = [a + b for a, b in zip(sums, total(top), strict=True)]
        rows.append((level, total_title, with_total(sums)))
        return sums

    def minus(a: list[Decimal], b: list[Decimal]) -> list[Decimal]:
        return [x - y for x, y in zip(a, b, strict=True)]

    rows.append((0, "Ordinary Income/Expense", []))
    income = section("Income", 1)
    cogs = section("Cost of Goods Sold", 1)
    gross = minus(income, cogs)
    rows.append((0, "Gross Profit", with_total(gross)))
    expense = section("Expense", 1)
    ordinary = minus(gross, expense)
    rows.append((0, "Net Ordinary Income", with_total(ordinary)))
    rows.append((0, "Other Income/Expense", []))
    other_income = section("Other Income", 1)
    other_expense = section("Other Expense", 1)
    other = minus(other_income, other_expense)
    rows.append((0, "Net Other Income", with_total(other)))
    rows.append(
        (0, "Net Income", with_total([a + b for a, b in zip(ordinary, other, strict=True)]))
    )
    return rows


def _cells(
    rows: Iterable[tuple[int | None, str, list[Decimal | None]]], months: list[date], as_text: bool
) -> list[list[Any]]:
    header: list[Any] = [""] * LABEL_COLUMNS + [f"{m:%b %y}" for m in months] + ["TOTAL"]
    out: list[list[Any]] = []
    for level, label, amounts in rows:
        if level is None:  # a title row
            out.append([label])
            continue
        if header not in out:
            out.append(header)
        line: list[Any] = [""] * LABEL_COLUMNS
        line[level] = label
        if amounts:
            if as_text:
                line += [_money(a) for a in amounts]
            else:
                line += [float(a) if a else None for a in amounts]
        out.append(line)
    return out


def write_csv(path: Path, msp: Any, first: date, last: date) -> Path:
    rows = build_rows(msp, first, last)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(_cells(rows, months_between(first, last), as_text=True))
    return path


def write_xlsx(path: Path, msp: Any, first: date, last: date) -> Path:
    from openpyxl import Workbook

    rows = build_rows(msp, first, last)
    book = Workbook()
    sheet = book.active
    sheet.title = "Profit & Loss by Month"
    for line in _cells(rows, months_between(first, last), as_text=False):
        sheet.append([None if c == "" else c for c in line])
    for row in sheet.iter_rows(min_row=6):
        for cell in row[LABEL_COLUMNS:]:
            cell.number_format = "#,##0.00;(#,##0.00)"
    book.save(path)
    return path


def main(argv: list[str] | None = None) -> None:
    from sandbox.msp import generate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--today", default="2026-10-15")
    args = parser.parse_args(argv)
    msp = generate("small", seed=42, today=date.fromisoformat(args.today))
    last = date(msp.end_month.year, msp.end_month.month, 1)
    index = last.year * 12 + last.month - 2  # the last complete month
    last = date(index // 12, index % 12 + 1, 1)
    index -= args.months - 1
    first = date(index // 12, index % 12 + 1, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "profit_and_loss_by_month.csv", msp, first, last)
    write_xlsx(args.out / "profit_and_loss_by_month.xlsx", msp, first, last)


if __name__ == "__main__":
    main()
