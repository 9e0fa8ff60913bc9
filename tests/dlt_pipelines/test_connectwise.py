"""ConnectWise -> raw_connectwise over real HTTP against the sandbox.

In order: full load, re-run, incremental after a day, deletions, `since`,
malformed records. (Faults and kills: test_reliability.py.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from dlt_pipelines import connectwise
from dlt_pipelines.runner import make_pipeline
from sandbox.msp import CONNECTWISE_LISTS
from tests.dlt_pipelines.conftest import columns, cw_config, query, scalar

TABLES = CONNECTWISE_LISTS


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _live(settings: Any, table: str) -> dict[int, tuple]:
    return {
        r[0]: r[1:]
        for r in query(
            settings,
            f"select id, _info__last_updated from raw_connectwise.{table} "
            "where _deleted_at is null",
        )
    }


def _cursor(settings: Any, resource: str) -> Any:
    state = make_pipeline(settings, "connectwise").state
    return state["sources"]["connectwise"]["resources"][resource]["incremental"][
        "_info.lastUpdated"
    ]["last_value"]


def _assert_matches_sandbox(settings: Any, msp: Any) -> None:
    for table, attr in TABLES.items():
        records = getattr(msp, attr)
        live = _live(settings, table)
        assert set(live) == {r["id"] for r in records}, table
        for record in records:
            assert live[record["id"]][0] == _ts(record["_info"]["lastUpdated"]), (
                table,
                record["id"],
            )
        # nothing counted twice
        assert (
            scalar(settings, f"select count(*) - count(distinct id) from raw_connectwise.{table}")
            == 0
        )


@pytest.fixture(scope="module")
def first_load(sandbox: Any, warehouse: Any) -> Any:
    return connectwise.run(warehouse, cw_config(sandbox))


def test_full_load_holds_exactly_the_sandbox_records(first_load: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    expected = {t: len(getattr(msp, a)) for t, a in TABLES.items()}
    assert {t: first_load.details["tables"][t] for t in TABLES} == expected
    assert first_load.rows_loaded == sum(expected.values())
    assert first_load.details["rows_rejected"] == 0
    assert first_load.details["rows_marked_deleted"] == 0
    _assert_matches_sandbox(warehouse, msp)


def test_spot_values(first_load: Any, sandbox: Any, warehouse: Any):
    msp = sandbox.msp
    ticket = next(t for t in msp.cw_tickets if t.get("closedDate") and t.get("owner"))
    row = query(
        warehouse,
        "select summary, board__name, status__name, company__identifier, owner__identifier, "
        "actual_hours, closed_flag, closed_date, _info__date_entered "
        "from raw_connectwise.tickets where id = %s",
        (ticket["id"],),
    )[0]
    assert row == (
        ticket["summary"],
        ticket["board"]["name"],
        ticket["status"]["name"],
        ticket["company"]["identifier"],
        ticket["owner"]["identifier"],
        pytest.approx(ticket["actualHours"]),
        ticket["closedFlag"],
        _ts(ticket["closedDate"]),
        _ts(ticket["_info"]["dateEntered"]),
    )
    entry = msp.cw_time_entries[len(msp.cw_time_entries) // 2]
    row = query(
        warehouse,
        "select member__identifier, charge_to_id, charge_to_type, actual_hours, "
        "billable_option, time_start from raw_connectwise.time_entries where id = %s",
        (entry["id"],),
    )[0]
    assert row == (
        entry["member"]["identifier"],
        entry["chargeToId"],
        entry["chargeToType"],
        pytest.approx(entry["actualHours"]),
        entry["billableOption"],
        _ts(entry["timeStart"]),
    )
    agreement = msp.cw_agreements[0]
    amount, start, cycle = query(
        warehouse,
        "select bill_amount, start_date, billing_cycle__name from raw_connectwise.agreements "
        "where id = %s",
        (agreement["id"],),
    )[0]
    assert float(amount) == pytest.approx(agreement["billAmount"])
    assert start == _ts(agreement["startDate"])
    assert cycle == (agreement.get("billingCycle") or {}).get("name")


def test_columns_the_dbt_models_rely_on(first_load: Any, warehouse: Any):
    tickets = columns(warehouse, "raw_connectwise", "tickets")
    for name, kind in {
        "id": "bigint",
        "board__name": "character varying",
        "company__id": "bigint",
        "parent_ticket_id": "bigint",
        "closed_date": "timestamp with time zone",
        "actual_hours": "double precision",
        "_info__last_updated": "timestamp with time zone",
        "_info__date_entered": "timestamp with time zone",
        "custom_fields": "jsonb",
        "_deleted_at": "timestamp with time zone",
        "_dlt_load_id": "character varying",
        "_dlt_id": "character varying",
    }.items():
        assert tickets.get(name) == kind, name
    agreements = columns(warehouse, "raw_connectwise", "agreements")
    assert agreements["bill_amount"] == "numeric"
    assert agreements["date_cancelled"] == "timestamp with time zone"
    for table in TABLES:
        assert "_deleted_at" in columns(warehouse, "raw_connectwise", table), table
    assert columns(warehouse, "raw_connectwise", "companies__types")["name"] == "character varying"


def test_rerun_without_changes_loads_nothing_new(first_load: Any, sandbox: Any, warehouse: Any):
    before = {t: scalar(warehouse, f"select count(*) from raw_connectwise.{t}") for t in TABLES}
    again = connectwise.run(warehouse, cw_config(sandbox))
    assert again.rows_loaded == 0
    assert {
        t: scalar(warehouse, f"select count(*) from raw_connectwise.{t}") for t in TABLES
    } == before


def test_incremental_after_a_day_loads_only_the_changes(
    first_load: Any, sandbox: Any, warehouse: Any
):
    cursor_before = _cursor(warehouse, "tickets")
    before = {t: _live(warehouse, t) for t in TABLES}
    changes = sandbox.advance(1)
    assert changes["created"] + changes["updated"] > 0
    msp = sandbox.msp
    changed = sum(
        1
        for table, attr in TABLES.items()
        for record in getattr(msp, attr)
        if before[table].get(record["id"], (None,))[0] != _ts(record["_info"]["lastUpdated"])
    )
    result = connectwise.run(warehouse, cw_config(sandbox))
    assert 0 < result.rows_loaded <= changed
    assert result.rows_loaded < 0.1 * first_load.rows_loaded
    _assert_matches_sandbox(warehouse, msp)
    assert _cursor(warehouse, "tickets") > cursor_before


def test_records_deleted_at_the_source_are_marked_not_counted(
    first_load: Any, sandbox: Any, warehouse: Any
):
    msp = sandbox.msp
    for table, attr in TABLES.items():
        live_ids = {r["id"] for r in getattr(msp, attr)}
        rows = query(warehouse, f"select id, _deleted_at from raw_connectwise.{table}")
        for record_id, deleted_at in rows:
            assert (deleted_at is None) == (record_id in live_ids), (table, record_id)
    # the day's deletions (the sandbox deletes a ticket and a time entry per day)
    deleted = (
        query(
            warehouse,
            "select count(*) from raw_connectwise.tickets where _deleted_at is not null",
        )[0][0]
        + query(
            warehouse,
            "select count(*) from raw_connectwise.time_entries where _deleted_at is not null",
        )[0][0]
    )
    assert deleted >= 1


def test_since_rereads_history_without_moving_the_cursor(
    first_load: Any, sandbox: Any, warehouse: Any
):
    from datetime import date

    cursor = _cursor(warehouse, "tickets")
    result = connectwise.run(warehouse, cw_config(sandbox), since=date(2026, 9, 1))
    recent = sum(
        1
        for attr in TABLES.values()
        for r in getattr(sandbox.msp, attr)
        if r["_info"]["lastUpdated"] >= "2026-09-01T05:00:00Z"
    )
    assert result.rows_loaded == recent > 0
    assert _cursor(warehouse, "tickets") == cursor
    _assert_matches_sandbox(warehouse, sandbox.msp)


def test_malformed_records_are_set_aside_not_loaded(first_load: Any, sandbox: Any, warehouse: Any):
    shape = columns(warehouse, "raw_connectwise", "time_entries")
    count = scalar(warehouse, "select count(*) from raw_connectwise.time_entries")
    sandbox.fault("connectwise", "malformed_record", path="time/entries")
    result = connectwise.run(warehouse, cw_config(sandbox), full=True)
    assert result.details["rows_rejected"] == 3
    rejected = query(
        warehouse,
        "select resource, reason, record ->> 'id', load_id from raw_connectwise.rejected_records "
        "where resource = 'time_entries' order by reason",
    )
    reasons = [r[1] for r in rejected]
    assert len(rejected) == 3
    assert any(r.startswith("missing id") for r in reasons)
    assert any("is negative" in r for r in reasons)
    assert any("is not an integer" in r or "is not a" in r for r in reasons)
    assert all(r[3] in result.details["load_ids"] for r in rejected)
    # the raw table neither grew bad rows nor changed shape
    assert scalar(warehouse, "select count(*) from raw_connectwise.time_entries") == count
    assert (
        scalar(warehouse, "select count(*) from raw_connectwise.time_entries where id > 900000000")
        == 0
    )
    assert columns(warehouse, "raw_connectwise", "time_entries") == shape
    # seeing the same bad records again does not add rows
    sandbox.fault("connectwise", "malformed_record", path="time/entries")
    connectwise.run(warehouse, cw_config(sandbox), full=True)
    assert scalar(warehouse, "select count(*) from raw_connectwise.rejected_records") == 3


def test_a_set_aside_record_is_resolved_when_its_id_loads_cleanly(
    first_load: Any, sandbox: Any, warehouse: Any
):
    """The first ticket arrives broken (keeping its id): set aside, not loaded over the
    good row. The next read brings it clean: its rejected row is marked resolved; other
    rejected records (fresh ids that never came back) stay outstanding."""
    first = min(t["id"] for t in sandbox.msp.cw_tickets)
    sandbox.fault(
        "connectwise", "malformed_record", path="service/tickets", variants=["wrong_type"],
        same_id=True,
    )  # fmt: skip
    broken = connectwise.run(warehouse, cw_config(sandbox), full=True)
    assert broken.details["rows_rejected"] == 1
    assert broken.details.get("rows_resolved", 0) == 0
    row = query(
        warehouse,
        "select record_id, resolved_at, reason from raw_connectwise.rejected_records "
        "where resource = 'tickets'",
    )
    assert [(r[0], r[1]) for r in row] == [(str(first), None)]
    # the broken copy did not overwrite the loaded ticket
    assert scalar(warehouse, "select count(*) from raw_connectwise.tickets where id = %s",
                  (first,)) == 1  # fmt: skip
    clean = connectwise.run(warehouse, cw_config(sandbox), full=True)
    assert clean.details["rows_rejected"] == 0
    assert clean.details["rows_resolved"] == 1
    resolved = query(
        warehouse,
        "select record_id, resolved_at is not null, resolved_load_id "
        "from raw_connectwise.rejected_records where resource = 'tickets'",
    )
    assert resolved == [(str(first), True, clean.details["load_ids"][-1])]
    # the time entries set aside earlier (ids never seen clean) stay outstanding
    outstanding = scalar(
        warehouse,
        "select count(*) from raw_connectwise.rejected_records "
        "where resource = 'time_entries' and resolved_at is null",
    )
    assert outstanding == 3


def test_the_refresh_calls_it_through_load_source(
    first_load: Any, sandbox: Any, warehouse: Any, monkeypatch: pytest.MonkeyPatch
):
    """qbr.app.refresh.run._load_source(settings, name, full, since) -> (rows, details),
    configured the dlt way (SOURCES__CONNECTWISE__*), details JSON-ready."""
    import json

    from qbr.app.refresh.run import _load_source

    for key, value in cw_config(sandbox).items():
        monkeypatch.setenv(f"SOURCES__CONNECTWISE__{key.upper()}", value)
    rows, details = _load_source(warehouse, "connectwise", False, None)
    assert rows == 0 and details["rows_rejected"] == 0
    json.dumps(details)
    rows, details = _load_source(warehouse, "connectwise", False, "2026-10")
    assert rows > 0 and details["since"] == "2026-10-01"
    with pytest.raises(Exception, match="YYYY-MM"):
        _load_source(warehouse, "connectwise", False, "last week")
