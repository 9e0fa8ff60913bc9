"""QuickBooks Desktop P&L exports -> raw_quickbooks.profit_and_loss (origin 'desktop').

The export files are written by tests/dlt_pipelines/desktop_export.py from the same
sandbox books the Online report shows, so an import must equal the Online
P&L for the same months.
"""

from __future__ import annotations

import argparse
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dlt_pipelines import quickbooks, quickbooks_desktop
from dlt_pipelines.errors import FileRefused, SourceError
from dlt_pipelines.quickbooks_desktop import parse
from qbr.app import sources
from qbr.settings import PROJECT_ROOT
from tests.dlt_pipelines import desktop_export
from tests.dlt_pipelines.conftest import qbo_config, query, scalar

FIRST, LAST = date(2025, 10, 1), date(2026, 9, 1)  # twelve closed months
EXAMPLES = PROJECT_ROOT / "dlt_pipelines" / "examples"


def by_path(settings: Any, origin: str, source_file: str | None = None) -> dict:
    rows = query(
        settings,
        "select section_path, month, amount, account_name, section, accounting_method, "
        "source_file from raw_quickbooks.profit_and_loss where origin = %s "
        "and month between %s and %s and (%s::text is null or source_file = %s)",
        (origin, FIRST, LAST, source_file, source_file),
    )
    return {(r[0], r[1]): r[2:] for r in rows}


@pytest.fixture(scope="module")
def online(sandbox: Any, warehouse: Any) -> dict:
    quickbooks.run(warehouse, qbo_config(sandbox), resources=("accounts", "profit_and_loss"))
    rows = by_path(warehouse, "online")
    assert rows
    return rows


@pytest.fixture(scope="module")
def exports(sandbox: Any, tmp_path_factory: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    return {
        "csv": desktop_export.write_csv(folder / "pl_by_month.csv", sandbox.msp, FIRST, LAST),
        "xlsx": desktop_export.write_xlsx(folder / "pl_by_month.xlsx", sandbox.msp, FIRST, LAST),
    }


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_import_equals_the_online_pnl_for_the_same_months(
    online: dict, exports: dict, warehouse: Any, kind: str
):
    result = quickbooks_desktop.import_file(warehouse, exports[kind])
    desktop = by_path(warehouse, "desktop", exports[kind].name)
    assert result.rows_loaded == len(desktop) == len(online)
    assert {k: v[0] for k, v in desktop.items()} == {k: v[0] for k, v in online.items()}
    for key, (_amount, name, section, method, source_file) in desktop.items():
        assert (name, section, method) == online[key][1:4]
        assert source_file == exports[kind].name
    keys = query(
        warehouse,
        "select distinct account_key, account_id from raw_quickbooks.profit_and_loss "
        "where origin = 'desktop' and account_name = 'Officer Payroll'",
    )
    assert keys == [("Payroll Expenses:Officer Payroll", None)]


def test_reimporting_the_same_file_is_idempotent(online: dict, exports: dict, warehouse: Any):
    quickbooks_desktop.import_file(warehouse, exports["csv"])
    count = scalar(
        warehouse, "select count(*) from raw_quickbooks.profit_and_loss where origin = 'desktop'"
    )
    snapshot = by_path(warehouse, "desktop")
    quickbooks_desktop.import_file(warehouse, exports["csv"])
    assert (
        scalar(
            warehouse,
            "select count(*) from raw_quickbooks.profit_and_loss where origin = 'desktop'",
        )
        == count
    )
    assert {k: v[0] for k, v in by_path(warehouse, "desktop").items()} == {
        k: v[0] for k, v in snapshot.items()
    }
    # the Online rows were never touched by the imports
    assert by_path(warehouse, "online") == online


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Account,Amount\nRent,100\n", "no header row with month columns such as 'Jan 25'"),
        (
            "Acme\nBalance Sheet\nAs of Sep 30 2026\n,Sep 30 26\nASSETS\nChecking,100\n",
            "'Balance Sheet' report",
        ),
        (",Jan 25,Feb 25,TOTAL\nExpense\nRent,100,100,200\nTotal Expense,100,100,200\n",
         "no 'Income' section row"),
        (",Jan 25,TOTAL\nIncome\nSales,abc,1\nTotal Income,1,1\nExpense\nTotal Expense\n",
         "line 3 ('Sales'): 'abc' under 'Jan 25' is not an amount"),
        (",Jan 25,TOTAL\nIncome\nTotal Income\nExpense\nTotal Expense\n",
         "no account rows with amounts"),
        (",Jan 25,TOTAL\nRent,100,100\nIncome\nExpense\n", "outside the Income"),
    ],
)  # fmt: skip
def test_a_wrong_shape_is_refused_naming_what_is_missing(
    tmp_path: Path, warehouse: Any, content: str, message: str
):
    path = _write(tmp_path, "export.csv", content)
    with pytest.raises(FileRefused) as refused:
        quickbooks_desktop.import_file(warehouse, path)
    assert message in str(refused.value)
    assert str(refused.value).startswith("export.csv: ")


def test_other_file_types_are_refused(tmp_path: Path):
    with pytest.raises(FileRefused, match="only .csv and .xlsx"):
        parse(_write(tmp_path, "pl.pdf", "%PDF"))
    with pytest.raises(FileRefused, match="not a readable .xlsx"):
        parse(_write(tmp_path, "pl.xlsx", "not a zip"))


def test_parent_child_names_spaces_and_parent_own_postings(tmp_path: Path):
    """Leading spaces instead of cells, `Parent:Child` labels, `Parent - Other`."""
    text = "\n".join(
        [
            '"Enersystems, LLC"',
            "Profit & Loss",
            "January through February 2025",
            "Cash Basis",
            ',"Jan 25","Feb 25","TOTAL"',
            '"Ordinary Income/Expense"',
            '"  Income"',
            '"    Managed Services Income"',
            '"      Managed Security Income","1,000.00","","1,000.00"',
            '"      Managed Services Income - Other","500.50","(20.00)","480.50"',
            '"    Total Managed Services Income","1,500.50","(20.00)","1,480.50"',
            '"  Total Income","1,500.50","(20.00)","1,480.50"',
            '"  Expense"',
            '"    Payroll Expenses:Officer Payroll","2,000.00","2,000.00","4,000.00"',
            '"  Total Expense","2,000.00","2,000.00","4,000.00"',
            '"Net Ordinary Income","(499.50)","(2,020.00)","(2,519.50)"',
            '"Net Income","(499.50)","(2,020.00)","(2,519.50)"',
        ]
    )
    parsed = parse(_write(tmp_path, "spaces.csv", text))
    assert parsed.accounting_method == "Cash" and parsed.company == "Enersystems, LLC"
    got = {(r["account_key"], r["section_path"], r["month"]): r["amount"] for r in parsed.rows}
    assert got == {
        ("Managed Services Income:Managed Security Income",
         "Income/Managed Services Income/Managed Security Income", date(2025, 1, 1)):
            Decimal("1000.00"),
        ("Managed Services Income", "Income/Managed Services Income", date(2025, 1, 1)):
            Decimal("500.50"),
        ("Managed Services Income", "Income/Managed Services Income", date(2025, 2, 1)):
            Decimal("-20.00"),
        ("Payroll Expenses:Officer Payroll", "Expenses/Payroll Expenses/Officer Payroll",
         date(2025, 1, 1)): Decimal("2000.00"),
        ("Payroll Expenses:Officer Payroll", "Expenses/Payroll Expenses/Officer Payroll",
         date(2025, 2, 1)): Decimal("2000.00"),
    }  # fmt: skip


def test_the_drop_folder_is_read_by_the_refresh_step(
    online: dict, exports: dict, warehouse: Any, tmp_path: Path
):
    folder = quickbooks_desktop.drop_folder(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy(exports["xlsx"], folder / "dropped.xlsx")
        assert quickbooks_desktop.is_configured(warehouse)
        rows, details = sources.load(warehouse, "quickbooks_desktop")
        assert rows == len(online)
        assert details["files"][0]["status"] == "imported"
        assert not (folder / "dropped.xlsx").exists()
        assert len(list((folder / "processed").glob("*-dropped.xlsx"))) == 1
        assert not quickbooks_desktop.is_configured(warehouse)
        # a bad file is refused, moved aside with the reason, and fails only this step
        _write(folder, "wrong.csv", "Account,Amount\nRent,100\n")
        with pytest.raises(SourceError, match="refused wrong.csv: no header row"):
            sources.load(warehouse, "quickbooks_desktop")
        errors = list((folder / "refused").glob("*-wrong.csv.error.txt"))
        assert len(errors) == 1 and "no header row" in errors[0].read_text()
        # nothing waiting: the step is a no-op
        assert sources.load(warehouse, "quickbooks_desktop")[0] == 0
    finally:
        shutil.rmtree(folder)
        if not any(folder.parent.iterdir()):
            folder.parent.rmdir()


def test_the_cli_command_imports_a_file(online: dict, exports: dict, warehouse: Any, capsys):
    code = quickbooks_desktop.import_cli(warehouse, argparse.Namespace(file=str(exports["csv"])))
    assert code == 0
    out = capsys.readouterr().out
    assert f"imported {len(online)} rows" in out and "origin 'desktop'" in out
    missing = argparse.Namespace(file=str(exports["csv"]) + ".missing")
    assert quickbooks_desktop.import_cli(warehouse, missing) == 2


def test_the_committed_examples_parse(online: dict):
    for name in ("profit_and_loss_by_month.csv", "profit_and_loss_by_month.xlsx"):
        parsed = parse(EXAMPLES / name)
        assert parsed.rows and parsed.accounting_method == "Accrual"
        assert {r["section"] for r in parsed.rows} >= {"Income", "Expenses"}
