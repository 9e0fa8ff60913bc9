"""The review as a file: the Monthly Business Review grid or the SmartNumber scorecard.

MBR (`view=mbr`): the input sheet for one quarter. One row per metric and
year, grouped by category in catalogue order: the quarter's three months and
the quarter's value (by the metric's quarterly rule), then the same quarter a
year earlier on the row below. Scorecard (`view=scorecard`): the quarter's
SmartNumbers with status, the green and yellow bands, QoQ and YoY change.
CSV keeps full precision; Excel adds number formats, bold headers and frozen
panes. Text cells that a spreadsheet would run as a formula are quoted.
"""

from __future__ import annotations

import calendar
import csv
import io
from typing import Any

from flask import Blueprint, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from api import shapes as S
from api.auth import org_id
from api.db import get_conn, number
from api.spec import operation
from api.views.common import definitions, latest_complete, periods_in
from api.views.metrics import smartnumbers_payload
from qbr.periods import parse_quarter, prior_year, quarter_months

bp = Blueprint("export", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER_FORMATS = {
    "dollars": "#,##0.00",
    "usd": "#,##0.00",
    "percent": "0.0%",
    "pct": "0.0%",
    "hours": "#,##0.00",
    "count": "#,##0.##",
}

P_FORMAT = S.query(
    "format", {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"}, "File format."
)
P_VIEW = S.query(
    "view",
    {"type": "string", "enum": ["mbr", "scorecard"], "default": "mbr"},
    "mbr: the Monthly Business Review grid; scorecard: the SmartNumbers.",
)


def _month_label(month: str) -> str:
    return calendar.month_abbr[int(month[5:7])]


def mbr_table(conn, quarter: str) -> tuple[list[str], list[list[Any]], list[str]]:
    """(header, rows, units per row) of the MBR grid."""
    prior = prior_year(quarter)
    months, prior_months = quarter_months(quarter), quarter_months(prior)
    monthly: dict[tuple[str, str], Any] = {}
    for r in conn.execute(
        "select period, metric_key, value from qbr.metrics_monthly "
        "where organization_id = %s and period = any(%s::text[])",
        (org_id(), months + prior_months),
    ):
        monthly[(r["metric_key"], r["period"])] = number(r["value"])
    quarterly: dict[tuple[str, str], Any] = {}
    for r in conn.execute(
        "select period, metric_key, value from qbr.metrics_quarterly "
        "where organization_id = %s and period = any(%s::text[])",
        (org_id(), [quarter, prior]),
    ):
        quarterly[(r["metric_key"], r["period"])] = number(r["value"])
    header = ["Category", "Metric", "Key", "Unit", "Year"]
    header += [_month_label(m) for m in months] + [quarter[5:]]
    rows: list[list[Any]] = []
    units: list[str] = []
    for key, d in definitions(conn).items():
        if d["is_smartnumber"]:
            continue
        for q, ms in ((quarter, months), (prior, prior_months)):
            rows.append(
                [d["category"], d["metric_name"], key, d["unit"], q[:4]]
                + [monthly.get((key, m)) for m in ms]
                + [quarterly.get((key, q))]
            )
            units.append(d["unit"] or "")
    return header, rows, units


def _band(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


def scorecard_table(conn, quarter: str) -> tuple[list[str], list[list[Any]], list[str]]:
    payload = smartnumbers_payload(conn, quarter, None)
    header = [
        "#",
        "Category",
        "SmartNumber",
        "Key",
        "Value",
        "Unit",
        "Status",
        "Green",
        "Yellow",
        "Direction",
        "QoQ change",
        "YoY change",
    ]
    rows, units = [], []
    for i, s in enumerate(payload["smartnumbers"], start=1):
        t = s["threshold"] or {}
        direction = t.get("direction")
        green = _band(t.get("green_min"), t.get("green_max"))
        yellow = _band(t.get("yellow_min"), t.get("yellow_max"))
        if direction == "higher_is_better":
            green, yellow = _band(t.get("green_min"), None), _band(t.get("yellow_min"), None)
        elif direction == "lower_is_better":
            green, yellow = _band(None, t.get("green_max")), _band(None, t.get("yellow_max"))
        rows.append(
            [
                i,
                s["category"],
                s["name"],
                s["key"],
                s["value"],
                s["unit"],
                s["status"] or "",
                green,
                yellow,
                direction or "",
                s["qoq_change"],
                s["yoy_change"],
            ]
        )
        units.append(s["unit"] or "")
    return header, rows, units


def _safe_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _safe_text(v) for v in row])
    return out.getvalue().encode("utf-8")


def to_xlsx(
    title: str, header: list[str], rows: list[list[Any]], units: list[str], numeric_from: int
) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31]
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row, unit in zip(rows, units, strict=True):
        ws.append([_safe_text(v) for v in row])
        fmt = NUMBER_FORMATS.get(unit.lower())
        for cell in ws[ws.max_row][numeric_from:]:
            if fmt and isinstance(cell.value, int | float):
                cell.number_format = fmt
    ws.freeze_panes = ws.cell(row=3, column=numeric_from + 1)
    for i, name in enumerate(header, start=1):
        width = max([len(str(name))] + [len(str(r[i - 1] or "")) for r in rows[:200]])
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 48)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@bp.get("/export")
@operation(
    summary="The quarter's review as CSV or Excel (MBR grid or scorecard)",
    tag="export",
    response=None,
    params=[S.P_QUARTER, P_FORMAT, P_VIEW],
    cache=True,
    errors=(404,),
    media={
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}},
    },
)
def export(query):
    conn = get_conn()
    period = query["period"]
    quarter = parse_quarter(period) if period else latest_complete(conn, "quarterly")
    periods_in(conn, "quarterly", quarter, quarter)
    view, fmt = query["view"], query["format"]
    if view == "mbr":
        header, rows, units = mbr_table(conn, quarter)
        title, numeric_from = f"MBR {quarter}", 5
    else:
        header, rows, units = scorecard_table(conn, quarter)
        title, numeric_from = f"Scorecard {quarter}", 4
    filename = f"qbr-{quarter}-{view}.{fmt}"
    if fmt == "csv":
        body, mimetype = to_csv(header, rows), "text/csv; charset=utf-8"
    else:
        body, mimetype = to_xlsx(title, header, rows, units, numeric_from), XLSX
    resp = Response(body, content_type=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
