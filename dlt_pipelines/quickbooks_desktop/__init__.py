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
spaces; sub-accounts may also be written `Parent:Child`; account numbers as
`4000 · Sales` (kept in `account_number`, removed from the name). Amounts look
like `1,234.56`, `(200.00)`, `-200.00` or `200.00-` for negatives, or are
numbers (Excel). Months without an amount are blank. The title rows may be
missing (Excel's default export, which also puts spacer columns between the
amounts); month headers are resolved against the title's date range when
there is one, and a file whose headers lost their year (re-saved in Excel)
without that range is refused - never imported into a guessed year. The whole
file is validated before anything is loaded (dlt_pipelines/README.md lists
every layout and refusal). Re-importing a file replaces the same months
(merge key origin + month), so it is idempotent.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt

from dlt_pipelines import pnl
from dlt_pipelines.constants import DATASETS
from dlt_pipelines.errors import SourceError
from dlt_pipelines.quickbooks_desktop.report import (  # noqa: F401 - the parser's API
    MonthHeader,
    ParsedReport,
    month_header,
    month_of,
    parse,
    read_cells,
)
from dlt_pipelines.quickbooks_desktop.settings import DESKTOP_DONE_FOLDER, DESKTOP_REFUSED_FOLDER
from dlt_pipelines.runner import LoadResult, finish_pending, make_pipeline, run_source
from qbr import db
from qbr import sources as registry

log = logging.getLogger("dlt_pipelines.quickbooks_desktop")
LABEL = registry.REGISTRY["quickbooks_desktop"].label  # qbr/sources.py


@dlt.source(name="quickbooks_desktop", max_table_nesting=0)
def desktop_source(rows: list[dict[str, Any]]) -> Any:
    return pnl.pnl_resource(rows)


def import_file(settings: Any, path: Path, basis: str | None = None) -> Any:
    """Validate the whole file, then load it; returns the runner's LoadResult
    with `rows_loaded` read back from the database.

    Nothing is loaded from a file that fails validation (FileRefused). A load
    that fails anyway leaves no pending dlt work behind (it is dropped), so the
    next import starts clean; pending work of an interrupted earlier import is
    finished first, or dropped when it cannot be."""
    parsed = parse(path, basis=basis)
    _clear_pending(settings)
    try:
        result = run_source(
            settings,
            "quickbooks_desktop",
            lambda context: desktop_source(parsed.rows),
            label=LABEL,
        )
    except SourceError as exc:
        _discard_pending(make_pipeline(settings, "quickbooks_desktop"))
        raise SourceError(f"{path.name}: not imported, nothing was written ({exc})") from exc
    written = _rows_written(settings, result.details.get("load_ids") or [])
    result.rows_loaded = written
    result.details.update(
        {
            "file": path.name,
            "months": [m.isoformat() for m in parsed.months],
            "accounts": parsed.accounts,
            "accounting_method": parsed.accounting_method,
            "rows_in_file": len(parsed.rows),
            "warnings": parsed.warnings,
        }
    )
    if written != len(parsed.rows):
        raise SourceError(
            f"{LABEL}: {path.name}: the file has {len(parsed.rows)} non-zero account-months "
            f"but {written} rows were written to raw_quickbooks.profit_and_loss - import it again"
        )
    return result


def _clear_pending(settings: Any) -> None:
    """Finish what an interrupted import left pending, or drop it if that fails
    (a failed import must never block the next one)."""
    pipeline = make_pipeline(settings, "quickbooks_desktop")
    try:
        finish_pending(pipeline)  # (re-fills staging after an interrupted staging job)
    except SourceError as exc:
        log.warning("%s: dropping pending load that cannot be finished: %s", LABEL, exc)
        _discard_pending(pipeline)


def _discard_pending(pipeline: Any) -> None:
    """Abort every pending load package (and finish the abort at once), so the
    pipeline's state is back where the failed import started."""
    if not pipeline.has_pending_data:
        return
    pipeline.abort_packages()
    try:
        if pipeline.has_pending_data:
            pipeline.load()  # completes the aborted package as aborted
    except Exception as exc:  # the abort is recorded either way
        log.info("%s: aborted pending load: %s", LABEL, exc)
    if pipeline.has_pending_data:
        raise SourceError(
            f"{LABEL}: a failed import left pending work that cannot be cleared; inspect "
            f"`dlt pipeline --pipelines-dir {pipeline.pipelines_dir} {pipeline.pipeline_name} info`"
        )


def _rows_written(settings: Any, load_ids: list[str]) -> int:
    """Rows now in raw_quickbooks.profit_and_loss that these loads wrote."""
    if not load_ids:
        return 0
    import psycopg

    with psycopg.connect(settings.url) as conn:
        row = conn.execute(
            f'select count(*) from "{DATASETS["quickbooks_desktop"]}".{pnl.TABLE} '
            "where _dlt_load_id = any(%s)",
            (list(load_ids),),
        ).fetchone()
    return int(row[0]) if row else 0


def drop_folder(settings: Any) -> Path:
    """`<home>/imports/quickbooks/` (the registry entry, qbr.sources, says where)."""
    return registry.drop_folder(settings, "quickbooks_desktop")


def pending_files(settings: Any) -> list[Path]:
    return registry.pending_files(settings, "quickbooks_desktop")


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"{stamp}-{path.name}"
    shutil.move(str(path), target)
    return target


def import_drop_folder(settings: Any) -> Any:
    """The `quickbooks_desktop` refresh step: import every file in the drop folder.

    A file that cannot be imported (refused, or its load failed) moves to
    `refused/` with `<file>.error.txt` beside it saying why; the files behind it
    are still imported. The step then fails naming the refused file(s)."""
    files = pending_files(settings)
    total = LoadResult("quickbooks_desktop", 0, {"folder": str(drop_folder(settings)), "files": []})
    refused: list[str] = []
    for path in files:
        try:
            result = import_file(settings, path)
        except SourceError as exc:
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
                k: result.details[k]
                for k in ("months", "accounts", "accounting_method", "warnings")
            }}
        )  # fmt: skip
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        imported = sum(1 for f in total.details["files"] if f["status"] == "imported")
        raise SourceError(
            f"{LABEL}: refused {refused[0]}{more}; moved to "
            f"{drop_folder(settings) / DESKTOP_REFUSED_FOLDER} "
            f"({imported} other file(s) imported, {total.rows_loaded} rows)"
        )
    return total


def is_configured(settings: Any) -> bool:
    """True when files wait in the drop folder (the step has something to do)."""
    return bool(pending_files(settings))


def run(settings: Any, config: Any = None, *, full: bool = False, since: Any = None) -> Any:
    """The `quickbooks_desktop` refresh step (the registry's uniform entry point): import
    the drop folder. `config`, `full` and `since` change nothing: the files say what
    months they hold."""
    return import_drop_folder(settings)


def import_cli(settings: Any, args: Any) -> int:
    """`qbr import quickbooks-pl FILE [--basis cash|accrual]`."""
    path = Path(args.file).expanduser()
    if not path.is_file():
        print(f"error: {path} does not exist")
        return 2
    basis = getattr(args, "basis", None)
    try:
        db.prepare(settings)
        result = import_file(settings, path, basis=basis)
    except SourceError as exc:
        print(f"error: {' '.join(str(exc).split())}")
        return 1
    for warning in result.details.get("warnings") or []:
        print(f"warning: {warning}")
    months = result.details["months"]
    print(
        f"imported {result.rows_loaded} rows ({result.details['accounts']} accounts, "
        f"{months[0][:7]} to {months[-1][:7]}, {result.details['accounting_method']}) "
        f"from {path.name} into raw_quickbooks.profit_and_loss (origin 'desktop')"
    )
    print("run `qbr refresh` (or wait for the scheduled one) to rebuild the marts")
    return 0
