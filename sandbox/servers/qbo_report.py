"""The QuickBooks Online ProfitAndLoss report in its real shape (SOURCES.md "Real
formats"): a parent's own postings in its section header (empty strings when it
has none), a parent whose sub-accounts had no activity as a plain Data row, `""`
for months without activity, the Total column, computed summary sections and the
`NoReportData` header option of an empty report."""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from decimal import Decimal
from operator import add, sub
from typing import Any

SECTION_BY_TYPE = {
    "Income": "Income",
    "Cost of Goods Sold": "COGS",
    "Expense": "Expenses",
    "Other Income": "OtherIncome",
    "Other Expense": "OtherExpenses",
}
#: (group, title) of the sections built from accounts, in report order
GROUPS = (
    ("Income", "Income"),
    ("COGS", "Cost of Goods Sold"),
    ("Expenses", "Expenses"),
    ("OtherIncome", "Other Income"),
    ("OtherExpenses", "Other Expenses"),
)

Amounts = dict[int, Decimal]  # column index -> amount


def report_header(
    start: dt.date, end: dt.date, method: str, generated: str, by: str, *, has_data: bool
) -> dict:
    """The report's Header as the real service sends it (`NoReportData` when empty)."""
    return {
        "Time": generated,
        "ReportName": "ProfitAndLoss",
        "ReportBasis": method,
        "StartPeriod": start.isoformat(),
        "EndPeriod": end.isoformat(),
        "SummarizeColumnsBy": by,
        "Currency": "USD",
        "Option": [
            {"Name": "AccountingStandard", "Value": "GAAP"},
            {"Name": "NoReportData", "Value": "false" if has_data else "true"},
        ],
    }


def fixture_answer(
    fixture: dict, start: dt.date, end: dt.date, method: str, generated: str
) -> dict:
    """A stored report document as the answer to a request for [start, end]:
    as is when the periods overlap, else the real empty report (NoReportData)."""
    header = fixture.get("Header") or {}
    try:
        first = dt.date.fromisoformat(str(header.get("StartPeriod")))
        last = dt.date.fromisoformat(str(header.get("EndPeriod")))
    except ValueError:
        return fixture
    if first <= end and start <= last:
        return fixture
    return {
        "Header": report_header(start, end, method, generated, "Month", has_data=False),
        "Columns": {"Column": []},
        "Rows": {},
    }


def build_profit_and_loss(
    msp: Any, start: dt.date, end: dt.date, method: str, by: str, generated: str
) -> dict:
    """The real report's shape from `msp.profit_and_loss` (same numbers for Cash and
    Accrual: the synthetic books have no timing differences)."""
    months = _months(start, end)
    amounts = _amounts(msp.profit_and_loss(start, end), months, by)
    books = _Books(msp, amounts, len(months) if by == "Month" else 1, by == "Month")
    rows = books.sections() if amounts else []  # an empty report has no rows at all
    return {
        "Header": report_header(start, end, method, generated, by, has_data=bool(amounts)),
        "Columns": {"Column": _columns(months, by)},
        "Rows": {"Row": rows} if rows else {},
    }


# --- columns -------------------------------------------------------------------


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, dt.date]]:
    """(first of month, column start, column end) for each month touching the range."""
    out = []
    first = start.replace(day=1)
    while first <= end:
        following = (first + dt.timedelta(days=32)).replace(day=1)
        out.append((first, max(first, start), min(following - dt.timedelta(days=1), end)))
        first = following
    return out


def _month_title(first: dt.date, col_start: dt.date, col_end: dt.date) -> str:
    last_day = ((first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)).day
    if col_start.day == 1 and col_end.day == last_day:
        return first.strftime("%b %Y")
    return f"{first.strftime('%b')} {col_start.day}-{col_end.day}, {first.year}"


def _money_column(title: str, metadata: list[dict]) -> dict:
    return {"ColTitle": title, "ColType": "Money", "MetaData": metadata}


def _columns(months: list[tuple[dt.date, dt.date, dt.date]], by: str) -> list[dict]:
    """The account column, a Money column per month (by Month) with its dates, Total."""
    columns = [
        {"ColTitle": "", "ColType": "Account", "MetaData": [{"Name": "ColKey", "Value": "account"}]}
    ]
    if by == "Month":
        for first, col_start, col_end in months:
            title = _month_title(first, col_start, col_end)
            metadata = [
                {"Name": "StartDate", "Value": col_start.isoformat()},
                {"Name": "EndDate", "Value": col_end.isoformat()},
                {"Name": "ColKey", "Value": title},
            ]
            columns.append(_money_column(title, metadata))
    columns.append(_money_column("Total", [{"Name": "ColKey", "Value": "total"}]))
    return columns


# --- amounts and accounts --------------------------------------------------------


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):.2f}"


def _amounts(
    raw: dict[tuple[Any, dt.date], Any], months: list[tuple[dt.date, dt.date, dt.date]], by: str
) -> dict[str, Amounts]:
    """account id -> column -> amount; a column per month (Month) or one (Total)."""
    month_index = {first: i for i, (first, _, _) in enumerate(months)}
    amounts: dict[str, Amounts] = {}
    for (account_id, month), value in raw.items():
        col = month_index.get(month) if by == "Month" else 0
        if col is None:
            continue
        cells = amounts.setdefault(str(account_id), {})
        cells[col] = cells.get(col, Decimal(0)) + Decimal(str(value))
    return amounts


def _add(into: Amounts, values: Amounts) -> None:
    for col, value in values.items():
        into[col] = into.get(col, Decimal(0)) + value


def chart_of_accounts(msp: Any) -> list[dict]:
    """The MSP's chart (its own attribute, else its module's CHART_OF_ACCOUNTS)."""
    chart = getattr(msp, "CHART_OF_ACCOUNTS", None)
    if chart is None:
        try:
            chart = getattr(
                importlib.import_module(type(msp).__module__), "CHART_OF_ACCOUNTS", None
            )
        except ImportError:
            chart = None
    return list(chart or [])


class _Books:
    """The account tree of one report: which section each top account opens, which
    sub-accounts follow it, and the rows they make."""

    def __init__(self, msp: Any, amounts: dict[str, Amounts], ncols: int, by_month: bool):
        self.amounts = amounts
        self.ncols = ncols
        self.by_month = by_month
        self.accounts = {str(a.get("Id")): a for a in (getattr(msp, "qbo_accounts", None) or [])}
        self.section_of: dict[str, str] = {}
        self.chart_parent: dict[str, str] = {}
        self._read_chart(chart_of_accounts(msp))
        self.children = self._children()

    def _read_chart(self, chart: list[dict]) -> None:
        for account_id, account in self.accounts.items():  # the account's own type first
            section = SECTION_BY_TYPE.get(account.get("AccountType", ""))
            if section:
                self.section_of[account_id] = section
        for item in chart:
            self.section_of.setdefault(str(item.get("id")), item.get("section"))
            if item.get("parent_id"):
                self.chart_parent[str(item.get("id"))] = str(item["parent_id"])
        by_id = {str(c.get("id")): c for c in chart}
        for account_id in self.amounts:  # accounts only the chart knows
            if account_id not in self.accounts:
                known = by_id.get(account_id, {})
                self.accounts[account_id] = {
                    "Id": account_id,
                    "Name": known.get("name", f"Account {account_id}"),
                    "FullyQualifiedName": known.get("fully_qualified_name", ""),
                }

    def _parent_of(self, account: dict) -> str | None:
        ref = account.get("ParentRef")
        if isinstance(ref, dict) and ref.get("value"):
            return str(ref["value"])
        return self.chart_parent.get(str(account.get("Id")))

    def _children(self) -> dict[str | None, list[str]]:
        children: dict[str | None, list[str]] = {}
        for account_id, account in self.accounts.items():
            parent = self._parent_of(account)
            if parent not in self.accounts:
                parent = None
            children.setdefault(parent, []).append(account_id)
        for ids in children.values():
            ids.sort(key=self._sort_name)
        return children

    def _sort_name(self, account_id: str) -> str:
        account = self.accounts[account_id]
        return account.get("FullyQualifiedName") or account.get("Name") or ""

    # --- cells -----------------------------------------------------------------
    def blank(self) -> list[dict]:
        return [{"value": ""} for _ in range(self.ncols + (1 if self.by_month else 0))]

    def cells(self, values: Amounts, empty_blank: bool) -> list[dict]:
        """Money cells (+ the Total column when by month). Data rows leave months
        without activity blank, as the real report does; summaries show 0.00."""
        empty = "" if empty_blank else "0.00"
        out = [
            {"value": _money(values[col]) if col in values else empty} for col in range(self.ncols)
        ]
        if self.by_month:
            total = sum(values.values(), Decimal(0))
            out.append({"value": _money(total) if values else empty})
        return out

    # --- rows ------------------------------------------------------------------
    def account_rows(self, account_id: str) -> tuple[list[dict], Amounts]:
        """Rows for an account and its descendants; empty when there is no activity."""
        account = self.accounts[account_id]
        own = self.amounts.get(account_id, {})
        kid_rows: list[dict] = []
        total: Amounts = dict(own)
        for child in self.children.get(account_id, []):
            rows, sub = self.account_rows(child)
            kid_rows += rows
            _add(total, sub)
        label = {"value": account.get("Name", ""), "id": account_id}
        if not kid_rows:  # no sub-account activity in the window: a plain data row
            if not own:
                return [], {}
            return [{"ColData": [label, *self.cells(own, True)], "type": "Data"}], total
        # the real shape: a parent's own postings are the amounts of its section
        # header (empty strings when it has none), its sub-accounts follow
        summary = [{"value": f"Total {account.get('Name', '')}"}, *self.cells(total, False)]
        section = {
            "Header": {"ColData": [label, *self.cells(own, True)]},
            "Rows": {"Row": kid_rows},
            "Summary": {"ColData": summary},
            "type": "Section",
        }
        return [section], total

    def group(self, group_name: str, title: str) -> tuple[dict, Amounts]:
        """A section of top accounts (Income, COGS, ...) and its total."""
        rows: list[dict] = []
        total: Amounts = {}
        for account_id in self.children.get(None, []):
            if self.section_of.get(account_id) != group_name:
                continue
            sub_rows, sub = self.account_rows(account_id)
            rows += sub_rows
            _add(total, sub)
        section: dict[str, Any] = {"Header": {"ColData": [{"value": title}, *self.blank()]}}
        if rows:
            section["Rows"] = {"Row": rows}
        summary = self.cells(total, False) if rows else self.blank()
        section["Summary"] = {"ColData": [{"value": f"Total {title}"}, *summary]}
        section["type"] = "Section"
        section["group"] = group_name
        return section, total

    def computed(self, group_name: str, title: str, values: Amounts) -> dict:
        """A summary-only section (Gross Profit, Net Income, ...)."""
        full = {col: values.get(col, Decimal(0)) for col in range(self.ncols)}
        return {
            "group": group_name,
            "type": "Section",
            "Summary": {"ColData": [{"value": title}, *self.cells(full, False)]},
        }

    def combine(self, op: Callable[[Decimal, Decimal], Decimal], a: Amounts, b: Amounts) -> Amounts:
        zero = Decimal(0)
        return {col: op(a.get(col, zero), b.get(col, zero)) for col in range(self.ncols)}

    def sections(self) -> list[dict]:
        """Every section in report order, the computed ones between them."""
        built = {name: self.group(name, title) for name, title in GROUPS}
        totals = {name: total for name, (_, total) in built.items()}
        gross = self.combine(sub, totals["Income"], totals["COGS"])
        operating = self.combine(sub, gross, totals["Expenses"])
        net_other = self.combine(sub, totals["OtherIncome"], totals["OtherExpenses"])
        return [
            built["Income"][0],
            built["COGS"][0],
            self.computed("GrossProfit", "Gross Profit", gross),
            built["Expenses"][0],
            self.computed("NetOperatingIncome", "Net Operating Income", operating),
            built["OtherIncome"][0],
            built["OtherExpenses"][0],
            self.computed("NetOtherIncome", "Net Other Income", net_other),
            self.computed("NetIncome", "Net Income", self.combine(add, operating, net_other)),
        ]
