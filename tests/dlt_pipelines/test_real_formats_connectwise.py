"""The ConnectWise real-format corpus (tests/fixtures/real_formats/connectwise/).

Each document is served verbatim by the sandbox over real HTTP and read by the
real pipeline (`dlt_pipelines.connectwise.run`); what lands in raw_connectwise
must equal the document's `.expected.json`, written by hand from the document.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dlt_pipelines import connectwise
from sandbox.msp import CONNECTWISE_LISTS, MSP
from sandbox.servers.runner import Sandbox
from tests.dlt_pipelines.conftest import cw_config, query

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "real_formats" / "connectwise"
LISTS = CONNECTWISE_LISTS


def _documents() -> dict[str, list[dict]]:
    docs = {p.stem: json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))
            if not p.name.endswith(".expected.json")}  # fmt: skip
    assert docs, f"no documents in {CORPUS}"
    assert set(docs) <= set(LISTS), set(docs) - set(LISTS)
    return docs


def _expected() -> dict[str, dict]:
    out = {p.name.removesuffix(".expected.json"): json.loads(p.read_text())
           for p in sorted(CORPUS.glob("*.expected.json"))}  # fmt: skip
    assert set(out) == set(_documents()), "every document needs its .expected.json"
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, Decimal):
        return float(value)
    return value


@pytest.fixture(scope="module")
def landed(make_database: Any, fast_http: dict[str, str]) -> Any:
    docs = _documents()
    msp = MSP.from_records(
        now=datetime(2025, 2, 5, 12, tzinfo=UTC),
        start_month=date(2025, 1, 1),
        **{LISTS[name]: records for name, records in docs.items()},
    )
    msp.cw_verbatim = True  # the documents are the wire format already
    settings = make_database("qbr_cw_real")
    with Sandbox(msp) as sb:
        result = connectwise.run(settings, cw_config(sb), full=True)
    return settings, result, docs


def test_every_document_loads_and_nothing_is_set_aside(landed: Any):
    settings, result, docs = landed
    assert result.details["rows_rejected"] == 0
    assert {t: result.details["tables"][t] for t in docs} == {t: len(r) for t, r in docs.items()}


@pytest.mark.parametrize("name", sorted(_expected()))
def test_document_lands_as_expected(landed: Any, name: str):
    settings, _, docs = landed
    expected = _expected()[name]
    table = expected["table"]
    cols = [r[0] for r in query(
        settings,
        "select column_name from information_schema.columns "
        "where table_schema = 'raw_connectwise' and table_name = %s",
        (table,),
    )]  # fmt: skip
    rows = query(settings, f"select * from raw_connectwise.{table}")
    got = {str(r[cols.index("id")]): dict(zip(cols, r, strict=True)) for r in rows}
    assert set(got) == {str(d["id"]) for d in docs[name]}
    wrong = []
    for rid, values in expected["rows"].items():
        for column, value in values.items():
            if column not in got[rid]:
                wrong.append((rid, column, "missing column", value))
            elif _plain(got[rid][column]) != value:
                wrong.append((rid, column, _plain(got[rid][column]), value))
    for rid, columns in expected.get("null", {}).items():
        for column in columns:  # an omitted field: a null, or no column at all
            if got[rid].get(column) is not None:
                wrong.append((rid, column, _plain(got[rid][column]), None))
    assert not wrong, wrong
    assert all(r["_deleted_at"] is None for r in got.values())
    for child, per_parent in expected.get("children", {}).items():
        names = query(
            settings,
            f"select p.id, c.name from raw_connectwise.{child} as c "
            f"join raw_connectwise.{table} as p on c._dlt_parent_id = p._dlt_id order by c._dlt_list_idx",
        )
        landed_children: dict[str, list] = {}
        for pid, child_name in names:
            landed_children.setdefault(str(pid), []).append(child_name)
        assert landed_children == per_parent, child
