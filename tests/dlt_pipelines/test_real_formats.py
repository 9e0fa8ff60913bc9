"""Real-format corpus (issue 11 item 9, QuickBooks) and bad Desktop files (issue 13 item 2).

- `tests/fixtures/real_formats/quickbooks_online/`: ProfitAndLoss documents in
  the real shape, served over HTTP by the sandbox, loaded by the real pipeline.
- `tests/fixtures/real_formats/quickbooks_desktop/`: Desktop export layouts,
  imported with `qbr import quickbooks-pl` (its function, and once the command).
- `tests/fixtures/bad_files/desktop/`: files that must be refused with one
  line, after each of which a valid file still imports (rows read back).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dlt_pipelines import pnl, quickbooks, quickbooks_desktop
from dlt_pipelines.errors import SourceError
from dlt_pipelines.runner import make_pipeline
from qbr.app import sources
from qbr.settings import PROJECT_ROOT
from tests.dlt_pipelines.conftest import qbo_config, query, served_report, subprocess_env

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
ONLINE = FIXTURES / "real_formats" / "quickbooks_online"
DESKTOP = FIXTURES / "real_formats" / "quickbooks_desktop"
BAD = FIXTURES / "bad_files" / "desktop"
VALID = DESKTOP / "numbers_parens_cp1252.csv"


def documents(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found = sorted(
        p for p in folder.iterdir() if p.suffix in suffixes and ".expected" not in p.name
    )
    assert found, f"empty corpus: {folder}"
    for path in found:
        has_result = path.with_name(path.name + ".expected.json").exists()
        has_refusal = path.with_name(path.name + ".expected").exists()
        assert has_result != has_refusal, f"{path.name}: needs exactly one expected file"
    return found


def refusal(path: Path) -> str:
    return path.with_name(path.name + ".expected").read_text().strip()


def desktop_rows(settings: Any, months: list[date]) -> dict[str, tuple]:
    rows = query(
        settings,
        "select section_path, month, amount, account_number, accounting_method, source_file "
        "from raw_quickbooks.profit_and_loss where origin = 'desktop' and month = any(%s)",
        (months,),
    )
    return {f"{r[0]}|{r[1]:%Y-%m}": r[2:] for r in rows}


def import_cli(settings: Any, path: Path, capsys: Any, basis: str | None = None):
    code = quickbooks_desktop.import_cli(settings, argparse.Namespace(file=str(path), basis=basis))
    out = capsys.readouterr()
    return code, out.out + out.err


# --- QuickBooks Online -------------------------------------------------------------


@pytest.fixture(scope="module")
def online_pnl(sandbox: Any, warehouse: Any) -> None:
    """The sandbox's own P&L loaded first: a served document replaces its months."""
    quickbooks.run(warehouse, qbo_config(sandbox), resources=("profit_and_loss",))


@pytest.mark.parametrize("document", documents(ONLINE, (".json",)), ids=lambda p: p.name)
def test_online_documents_over_http(document: Path, sandbox: Any, warehouse: Any, online_pnl: None):
    report = json.loads(document.read_text())
    months = [date.fromisoformat(report["Header"]["StartPeriod"]).replace(day=1)]
    while months[-1] < date.fromisoformat(report["Header"]["EndPeriod"]).replace(day=1):
        months.append(pnl.add_months(months[-1], 1))
    sql = (
        "select account_id, month, amount, account_name, account_number, section_path "
        "from raw_quickbooks.profit_and_loss where origin = 'online' and month = any(%s)"
    )
    before = query(warehouse, sql, (months,))
    run = lambda: quickbooks.run(  # noqa: E731
        warehouse, qbo_config(sandbox), since=months[0], resources=("profit_and_loss",)
    )
    with served_report(sandbox, report):
        if document.with_name(document.name + ".expected").exists():
            with pytest.raises(SourceError) as failed:
                run()
            assert refusal(document) in str(failed.value)
            assert "\n" not in str(failed.value)
            assert query(warehouse, sql, (months,)) == before  # nothing loaded
            return
        run()
    expected = json.loads(document.with_name(document.name + ".expected.json").read_text())
    rows = query(warehouse, sql, (months,))
    if not expected["amounts"]:  # NoReportData: nothing new, nothing lost
        assert sorted(rows) == sorted(before)
        return
    assert {f"{a}|{m:%Y-%m}": f"{v:.2f}" for a, m, v, *_ in rows} == expected["amounts"]
    assert {a: [n, num, p] for a, _, _, n, num, p in rows} == expected["accounts"]


def test_a_refresh_records_an_unreconciled_pnl_and_keeps_the_last_good_one(
    sandbox: Any, warehouse: Any, online_pnl: None, monkeypatch: Any, tmp_path: Path
):
    """Through `qbr refresh`: the QuickBooks step fails with the reconciliation
    line in the run log (the run is partial), the P&L rows are the previous ones."""
    import textwrap

    from qbr.app import refresh
    from qbr.dbt_runner import DBT_PROJECT_DIR
    from tests.app.refresh.conftest import STANDIN_FILES

    for rel, text in STANDIN_FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text).lstrip())
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", tmp_path / "profiles.yml")
    for key, value in qbo_config(sandbox).items():
        monkeypatch.setenv(f"SOURCES__QUICKBOOKS__{key.upper()}", value)
    sql = "select account_id, month, amount from raw_quickbooks.profit_and_loss order by 1, 2"
    before = query(warehouse, sql)
    broken = json.loads((ONLINE / "summary_without_header_amounts.json").read_text())
    with served_report(sandbox, broken):
        run = refresh.run_refresh(
            warehouse, sources=["quickbooks"], since="2025-01", trigger="test", echo=False,
            project_dir=tmp_path,
        )  # fmt: skip
    assert run.status == "partial"
    [(status, error)] = query(
        warehouse,
        "select status, error from qbr_app.refresh_steps where batch_id = %s and name = %s",
        (run.batch_id, "quickbooks"),
    )
    assert status == "failed"
    assert refusal(ONLINE / "summary_without_header_amounts.json") in error
    assert query(warehouse, sql) == before


# --- QuickBooks Desktop ------------------------------------------------------------


@pytest.mark.parametrize("export", documents(DESKTOP, (".csv", ".xlsx")), ids=lambda p: p.name)
def test_desktop_layouts_through_qbr_import(export: Path, warehouse: Any, capsys: Any):
    code, out = import_cli(warehouse, export, capsys)
    if export.with_name(export.name + ".expected").exists():
        assert code == 1
        assert refusal(export) in out
        assert out.count("\n") == 1 and "Traceback" not in out
        return
    expected = json.loads(export.with_name(export.name + ".expected.json").read_text())
    assert code == 0, out
    months = sorted({date.fromisoformat(k.split("|")[1] + "-01") for k in expected["amounts"]})
    rows = desktop_rows(warehouse, months)
    assert {k: f"{v[0]:.2f}" for k, v in rows.items()} == expected["amounts"]
    numbers = {k.split("|")[0]: v[1] for k, v in rows.items() if v[1]}
    assert numbers == expected["account_numbers"]
    assert {v[2] for v in rows.values()} == {expected["accounting_method"]}
    assert {v[3] for v in rows.values()} == {export.name}
    assert f"imported {len(expected['amounts'])} rows" in out
    for warning in expected["warnings"]:
        assert warning in out


def test_basis_flag_overrides_and_cash_and_accrual_are_never_summed(warehouse: Any, capsys: Any):
    expected = json.loads((DESKTOP / "no_title_rows.csv.expected.json").read_text())
    months = sorted({date.fromisoformat(k.split("|")[1] + "-01") for k in expected["amounts"]})
    code, out = import_cli(warehouse, DESKTOP / "no_title_rows.csv", capsys, basis="cash")
    assert code == 0 and "assumed" not in out
    rows = desktop_rows(warehouse, months)
    assert {v[2] for v in rows.values()} == {"Cash"}
    # the same months from an accrual-basis file: they replace, never add up
    code, out = import_cli(warehouse, DESKTOP / "minus_trailing.csv", capsys)
    assert code == 0, out
    rows = desktop_rows(warehouse, months)
    assert {v[2] for v in rows.values()} == {"Accrual"}
    assert {k: f"{v[0]:.2f}" for k, v in rows.items()} == expected["amounts"]
    # --basis wins over the file's own line, and says so
    code, out = import_cli(warehouse, DESKTOP / "minus_leading_spaces.csv", capsys, "accrual")
    assert code == 0 and "the file says Cash Basis; imported as Accrual" in out
    assert {v[2] for v in desktop_rows(warehouse, months).values()} == {"Accrual"}


# --- bad Desktop files ---------------------------------------------------------------


def _valid_rows() -> int:
    return len(json.loads(VALID.with_name(VALID.name + ".expected.json").read_text())["amounts"])


@pytest.mark.parametrize("bad", documents(BAD, (".csv", ".xlsx")), ids=lambda p: p.name)
def test_a_bad_file_is_refused_in_one_line_and_the_next_import_works(
    bad: Path, warehouse: Any, capsys: Any
):
    code, out = import_cli(warehouse, bad, capsys)
    assert code == 1
    assert refusal(bad) in out
    assert out.startswith(f"error: {bad.name}: ") and out.count("\n") == 1, out
    assert not make_pipeline(warehouse, "quickbooks_desktop").has_pending_data
    code, out = import_cli(warehouse, VALID, capsys)
    assert code == 0, out
    written = query(
        warehouse,
        "select count(*) from raw_quickbooks.profit_and_loss where source_file = %s",
        (VALID.name,),
    )[0][0]
    assert written == _valid_rows()
    assert f"imported {written} rows" in out


def test_the_qbr_import_command_refuses_without_a_traceback(warehouse: Any):
    """The real command line, in a child process (NUL bytes; then a valid file)."""
    env = subprocess_env(warehouse)
    command = [sys.executable, "-m", "qbr.app.cli", "import", "quickbooks-pl"]
    bad = subprocess.run(
        [*command, str(BAD / "nul_in_account_name.csv")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "NUL byte" in bad.stdout and "Traceback" not in bad.stdout + bad.stderr
    good = subprocess.run([*command, str(VALID)], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"imported {_valid_rows()} rows" in good.stdout


def test_pending_work_of_a_failed_import_never_blocks_the_next(warehouse: Any, capsys: Any):
    """A load package that cannot be loaded (an amount past the column's range,
    as an unvalidated 1e30 once left) is dropped; the next import succeeds and
    reports the rows it wrote."""
    row = pnl.pnl_row(
        origin="desktop", account_key="Sales", account_id=None, account_name="Sales",
        section="Income", path=["Sales"], month=date(2019, 1, 1), amount=Decimal("1e40"),
        accounting_method="Accrual", source_file="broken.csv",
    )  # fmt: skip
    pipeline = make_pipeline(warehouse, "quickbooks_desktop")
    pipeline.extract(quickbooks_desktop.desktop_source([row]))
    pipeline.normalize()
    with pytest.raises(Exception):  # noqa: B017 - the database refuses the value
        pipeline.load()
    assert pipeline.has_pending_data
    code, out = import_cli(warehouse, VALID, capsys)
    assert code == 0, out
    assert f"imported {_valid_rows()} rows" in out
    assert not make_pipeline(warehouse, "quickbooks_desktop").has_pending_data
    assert query(
        warehouse, "select count(*) from raw_quickbooks.profit_and_loss where month < '2020-01-01'"
    ) == [(0,)]


def test_the_drop_folder_sets_a_refused_file_aside_and_imports_the_rest(warehouse: Any):
    folder = quickbooks_desktop.drop_folder(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy(BAD / "infinity.csv", folder / "a_bad.csv")
        shutil.copy(VALID, folder / "b_good.csv")
        with pytest.raises(SourceError) as failed:
            sources.load(warehouse, "quickbooks_desktop")
        assert "refused a_bad.csv" in str(failed.value)
        assert "1 other file(s) imported" in str(failed.value)
        reasons = list((folder / "refused").glob("*-a_bad.csv.error.txt"))
        assert len(reasons) == 1 and refusal(BAD / "infinity.csv") in reasons[0].read_text()
        assert len(list((folder / "refused").glob("*-a_bad.csv"))) == 1
        assert len(list((folder / "processed").glob("*-b_good.csv"))) == 1
        written = query(
            warehouse,
            "select count(*) from raw_quickbooks.profit_and_loss where source_file = 'b_good.csv'",
        )[0][0]
        assert written == _valid_rows()
        assert not quickbooks_desktop.is_configured(warehouse)
    finally:
        shutil.rmtree(folder)
