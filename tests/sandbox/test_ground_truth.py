"""Ground truth: hand-counted cases first, then consistency on generated data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox import ground_truth as gt
from sandbox.msp import DEFAULT_CONFIG, MSP, generate

NOW = datetime(2025, 3, 20, 23, 0, tzinfo=UTC)
START = date(2025, 1, 1)
ACME, BETA, GAMMA, INTERNAL, VENDOR = 10, 11, 12, 1, 13
COMPANIES = {
    ACME: ("Acme Dental, LLC", "AcmeDental"),
    BETA: ("Beta Logistics, Inc.", "BetaLogistics"),
    GAMMA: ("Gamma & Sons Co.", "GammaSons"),
    INTERNAL: ("Enersystems, LLC", "Enersystems"),
    VENDOR: ("Pax8", "Pax8"),
}


def ref(id_: int, name: str) -> dict:
    return {"id": id_, "name": name, "_info": {}}


def company_ref(cid: int) -> dict:
    name, ident = COMPANIES[cid]
    return {"id": cid, "identifier": ident, "name": name, "_info": {}}


def ticket(id_, board, entered, status="New", closed=None, parent=None, company=ACME) -> dict:
    return {"id": id_, "board": ref(1, board), "status": ref(2, status),
            "company": company_ref(company), "parentTicketId": parent, "closedDate": closed,
            "_info": {"dateEntered": entered, "lastUpdated": entered}}  # fmt: skip


def entry(id_, charge_id, hours, entered, charge_type="ServiceTicket", company=ACME) -> dict:
    return {"id": id_, "chargeToId": charge_id, "chargeToType": charge_type,
            "actualHours": hours, "dateEntered": entered, "company": company_ref(company),
            "_info": {"lastUpdated": entered}}  # fmt: skip


def agreement(id_, company, type_name, start, amount, end=None, cancelled=None,
              cycle="Monthly") -> dict:  # fmt: skip
    return {"id": id_, "company": company_ref(company), "type": ref(1, type_name),
            "startDate": f"{start}T00:00:00Z", "endDate": f"{end}T00:00:00Z" if end else None,
            "dateCancelled": f"{cancelled}T00:00:00Z" if cancelled else None,
            "cancelledFlag": cancelled is not None, "billAmount": amount,
            "billingCycle": ref(1, cycle)}  # fmt: skip


def snapshot(day, key, org="ACME Dental", node="WINDOWS_WORKSTATION", host=None,
             location="Main Office", display=None) -> dict:  # fmt: skip
    host = host or f"DEV-{key}"
    return {"vendor": "NinjaRMM", "snapshot_date": day, "vendor_device_key": str(key),
            "organization_name": org, "node_class": node, "hostname": host,
            "display_name": display or host, "location_name": location}  # fmt: skip


TICKETS = [
    # entered Feb 10, closed 21:00 on Feb 28 local (March in UTC): created Feb, closed Feb
    ticket(1, "Help Desk", "2025-02-10T15:00:00Z", ">Closed", "2025-03-01T03:00:00Z"),
    # entered 21:00 on Jan 31 local (Feb in UTC): created Jan; closed Feb 3
    ticket(
        2, "Help Desk", "2025-02-01T03:00:00Z", "Closed", "2025-02-03T16:00:00Z", company=BETA
    ),  # fmt: skip
    # a child of 1: never counted as a ticket
    ticket(3, "Help Desk", "2025-02-12T15:00:00Z", ">Closed", "2025-02-13T15:00:00Z", parent=1),
    # another board: never counted
    ticket(4, "Projects", "2025-02-05T15:00:00Z", "Closed", "2025-02-06T15:00:00Z"),
    # reopened: closedDate kept but status open: created Feb, not closed
    ticket(5, "Help Desk", "2025-02-20T18:00:00Z", "In Progress", "2025-02-21T18:00:00Z"),
    # created Feb, closed in March
    ticket(6, "Help Desk", "2025-02-27T18:00:00Z", ">Closed - No response", "2025-03-02T12:00:00Z"),
    ticket(7, "Alerts", "2025-02-15T18:00:00Z", "Closed", "2025-02-15T19:00:00Z"),
]
ENTRIES = [
    entry(101, 1, 0.5, "2025-02-10T16:00:00Z"),  # Feb
    entry(102, 3, 0.25, "2025-02-12T16:00:00Z"),  # child ticket on Help Desk: counts, Feb
    entry(103, 4, 2.0, "2025-02-05T16:00:00Z", "ProjectTicket"),  # project: no
    entry(104, 7, 0.25, "2025-02-15T18:30:00Z"),  # Alerts board: no
    entry(105, 1, 1.33, "2025-03-01T05:30:00Z"),  # 23:30 on Feb 28 local: Feb
    entry(106, 1, 0.75, "2025-02-11T16:00:00Z", "ChargeCode", INTERNAL),  # id 1 is a charge code
    entry(107, 2, 1.0, "2025-02-01T02:00:00Z", company=BETA),  # 20:00 on Jan 31 local: Jan
]
AGREEMENTS = [
    agreement(1, ACME, "Managed Services", "2024-01-01", 1000.0, end="2025-02-28"),
    agreement(
        2, BETA, "Managed Services", "2024-06-01", 500.0, end="2025-01-31", cancelled="2025-02-01"
    ),  # fmt: skip
    agreement(3, GAMMA, "Managed Services", "2025-02-01", 800.0),
    agreement(4, GAMMA, "Managed Security", "2025-02-01", 100.0),
    agreement(5, ACME, "Block Time", "2025-02-01", 1650.0, cycle="One Time"),
    agreement(6, ACME, "Managed Services", "2025-02-15", 12000.0, cycle="Annual"),
    agreement(7, INTERNAL, "Managed Services", "2025-02-01", 50.0),
    agreement(8, ACME, "Managed Services", "2025-03-01", 1200.0),  # replaces 1: growth
]
PNL = {
    ("40", date(2025, 2, 1)): Decimal("10000"),  # mrr
    ("41", date(2025, 2, 1)): Decimal("500"),  # mrr (sub-account)
    ("42", date(2025, 2, 1)): Decimal("2000"),  # nrr
    ("44", date(2025, 2, 1)): Decimal("300"),  # orr
    ("46", date(2025, 2, 1)): Decimal("4000"),  # product_sales
    ("47", date(2025, 2, 1)): Decimal("-200"),  # product_sales (discount)
    ("48", date(2025, 2, 1)): Decimal("25"),  # misc_revenue
    ("90", date(2025, 2, 1)): Decimal("10"),  # misc_revenue (other income)
    ("61", date(2025, 2, 1)): Decimal("6000"),  # employee_expense
    ("63", date(2025, 2, 1)): Decimal("500"),  # employee_expense
    ("65", date(2025, 2, 1)): Decimal("400"),  # employee_expense
    ("64", date(2025, 2, 1)): Decimal("3000"),  # owner_comp: "Payroll Expenses:Officer Payroll"
    ("66", date(2025, 2, 1)): Decimal("1000"),  # owner_comp_taxes
    ("50", date(2025, 2, 1)): Decimal("3000"),  # product_cogs
    ("52", date(2025, 2, 1)): Decimal("700"),  # other_expenses (COGS, not product)
    ("70", date(2025, 2, 1)): Decimal("1500"),  # other_expenses
    ("89", date(2025, 2, 1)): Decimal("999"),  # Ask My Accountant: unmapped, in no total
    ("40", date(2025, 3, 1)): Decimal("11000"),
}


def worked_example_rows(day: date) -> list[dict]:
    """METRICS.md: 100 workstations + 20 servers + 5 VM hosts + 10 spare
    workstations + 15 devices of the internal org = 150 rows."""
    rows = [snapshot(day, i) for i in range(100)]
    rows += [snapshot(day, 100 + i, node="WINDOWS_SERVER") for i in range(20)]
    rows += [snapshot(day, 120 + i, node="VMWARE_VM_HOST") for i in range(5)]
    rows += [snapshot(day, 125 + i, host=f"SPARE-ACME-{i:02d}") for i in range(5)]
    rows += [snapshot(day, 130 + i, location="Spare Stock") for i in range(5)]
    rows += [snapshot(day, 135 + i, org="Enersystems - Internal") for i in range(15)]
    return rows


@pytest.fixture(scope="module")
def handmade() -> MSP:
    snapshots = worked_example_rows(date(2025, 2, 27))  # latest in Feb (no Feb 28 snapshot)
    snapshots += [snapshot(date(2025, 2, 10), 900 + i) for i in range(7)]  # earlier: ignored
    snapshots += [snapshot(date(2025, 3, 1), i) for i in range(3)]
    companies = [{"id": cid, "identifier": ident, "name": name, "isVendorFlag": cid == VENDOR}
                 for cid, (name, ident) in COMPANIES.items()]  # fmt: skip
    return MSP.from_records(
        now=NOW, start_month=START, snapshots=snapshots, pnl=PNL, cw_tickets=TICKETS,
        cw_time_entries=ENTRIES, cw_agreements=AGREEMENTS, cw_companies=companies,
        ninja_organizations=[{"id": 1, "name": "ACME Dental"},
                             {"id": 2, "name": "Enersystems - Internal"}],
    )  # fmt: skip


# -- hand-counted ------------------------------------------------------------------------------


def test_tickets_and_time_by_hand(handmade):
    feb = gt.monthly_inputs(handmade, "2025-02")
    assert feb["reactive_tickets_created"] == 3  # 1, 5, 6
    assert feb["reactive_tickets_closed"] == 2  # 1 (Feb 28 local), 2
    assert feb["reactive_time_spent"] == pytest.approx(2.08)  # 0.5 + 0.25 + 1.33
    jan = gt.monthly_inputs(handmade, "2025-01")
    assert (jan["reactive_tickets_created"], jan["reactive_tickets_closed"]) == (1, 0)
    assert jan["reactive_time_spent"] == pytest.approx(1.0)
    mar = gt.monthly_inputs(handmade, "2025-03")
    assert (mar["reactive_tickets_created"], mar["reactive_tickets_closed"]) == (0, 1)


def test_worked_example_endpoints_and_seats(handmade):
    rows = worked_example_rows(date(2025, 2, 27))
    assert len(rows) == 150
    assert gt.device_counts(rows) == (125, 100)
    feb = gt.monthly_inputs(handmade, "2025-02")
    assert (feb["endpoints_managed"], feb["seats_managed"]) == (125, 100)
    mar = gt.monthly_inputs(handmade, "2025-03")
    assert (mar["endpoints_managed"], mar["seats_managed"]) == (3, 3)


def test_device_rule_details():
    day = date(2025, 2, 27)
    rows = [
        snapshot(day, 1),
        snapshot(day, 1),  # the same device twice: distinct devices
        snapshot(day, 2, node="VMWARE_VM_GUEST"),  # VM guests never count
        snapshot(day, 3, display="Loaner laptop (spare)"),  # spare by display name, any case
        snapshot(day, 4, location="spare room"),
        snapshot(day, 5, node="MAC"),
    ]
    assert gt.device_counts(rows) == (2, 2)


def test_pnl_categories_by_hand(handmade):
    feb = gt.monthly_inputs(handmade, "2025-02")
    expected = {"mrr": 10500, "nrr": 2000, "orr": 300, "product_sales": 3800, "misc_revenue": 35,
                "total_revenue": 16635, "employee_expense": 6900, "owner_comp": 3000,
                "owner_comp_taxes": 1000, "product_cogs": 3000, "other_expenses": 2200,
                "total_expenses": 16100, "net_profit": 535}  # fmt: skip
    assert {k: feb[k] for k in expected} == expected
    jan = gt.monthly_inputs(handmade, "2025-01")
    assert jan["mrr"] == 0 and jan["total_expenses"] == 0  # loaded month, no entries: 0


def test_agreements_and_mrr_movements_by_hand(handmade):
    jan = gt.monthly_inputs(handmade, "2025-01")
    assert (jan["agreements"], jan["new_agreements"], jan["new_mrr"], jan["lost_mrr"]) == (
        2, 0, 0, 0)  # fmt: skip
    feb = gt.monthly_inputs(handmade, "2025-02")
    # active Feb 28: 1 (ends that day), 3, 4, 6 (annual); 2 cancelled; 7 internal
    assert feb["agreements"] == 4
    assert feb["new_agreements"] == 3  # 3, 4, 6 (block time is not a managed type)
    assert feb["new_mrr"] == 900  # Gamma 0 -> 800 + 100
    assert feb["lost_mrr"] == 500  # Beta 500 -> 0
    mar = gt.monthly_inputs(handmade, "2025-03")
    assert (mar["agreements"], mar["new_agreements"], mar["new_mrr"], mar["lost_mrr"]) == (
        4, 1, 0, 0)  # fmt: skip
    assert gt.client_mrr(handmade, date(2025, 3, 31)) == {ACME: Decimal("1200"),
                                                          GAMMA: Decimal("900")}  # fmt: skip


def test_client_monthly_by_hand(handmade):
    feb = gt.client_monthly(handmade, "2025-02")
    assert set(feb) == {ACME, BETA, GAMMA}  # internal and vendor excluded
    assert feb[ACME] == {"name": "Acme Dental, LLC", "endpoints": 125, "seats": 100,
                         "reactive_tickets_created": 3, "reactive_tickets_closed": 1,
                         "reactive_time_spent": pytest.approx(2.08), "agreement_mrr": 1000.0}  # fmt: skip
    assert feb[BETA]["reactive_tickets_closed"] == 1 and feb[BETA]["endpoints"] == 0
    assert feb[GAMMA]["agreement_mrr"] == 900.0
    jan = gt.client_monthly(handmade, "2025-01")
    assert jan[ACME]["endpoints"] is None  # no snapshot in January


def test_outside_coverage_is_none(handmade):
    for period in ("2024-12", "2025-04"):
        values = gt.monthly_inputs(handmade, period)
        assert set(values) == set(gt.MONTHLY_KEYS)
        others = {k: v for k, v in values.items() if k not in gt.AGREEMENT_KEYS}
        assert all(v is None for v in others.values())
        assert gt.client_monthly(handmade, period) == {}
    # agreements have their own coverage (from the first agreement's start, 2024-01):
    # on 2024-12-31 agreements 1 (ACME) and 2 (BETA) are active; nothing new or lost
    dec = gt.monthly_inputs(handmade, "2024-12")
    assert {k: dec[k] for k in gt.AGREEMENT_KEYS} == {
        "agreements": 2, "new_agreements": 0, "new_mrr": 0.0, "lost_mrr": 0.0,
    }  # fmt: skip
    assert all(gt.monthly_inputs(handmade, "2025-04")[k] is None for k in gt.AGREEMENT_KEYS)
    # before the first agreement starts: not covered either
    assert gt.monthly_inputs(handmade, "2023-12")["agreements"] is None
    jan = gt.monthly_inputs(handmade, "2025-01")
    assert jan["endpoints_managed"] is None and jan["seats_managed"] is None
    assert jan["reactive_tickets_created"] == 1


def test_config_is_honoured(handmade):
    wider = DEFAULT_CONFIG.replace(reactive_boards=["Help Desk", "Alerts"],
                                   closed_statuses=[">Closed"])  # fmt: skip
    feb = gt.monthly_inputs(handmade, "2025-02", wider)
    assert feb["reactive_tickets_created"] == 4
    assert feb["reactive_tickets_closed"] == 1  # only 1: 2 and 7 are "Closed", not ">Closed"
    assert feb["reactive_time_spent"] == pytest.approx(2.33)
    assert DEFAULT_CONFIG["reactive_boards"] == ["Help Desk"]


# -- generated data ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> MSP:
    return generate("small", seed=11, today=date(2026, 11, 23))


def _periods(msp: MSP) -> list[str]:
    m, out = msp.start_month, []
    while m <= msp.end_month:
        out.append(f"{m:%Y-%m}")
        m = date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def test_every_covered_month_has_every_value(small):
    for period in _periods(small):
        values = gt.monthly_inputs(small, period)
        assert all(v is not None for v in values.values()), period
        assert values["total_revenue"] == pytest.approx(sum(values[k] for k in gt.REVENUE))
        assert values["seats_managed"] <= values["endpoints_managed"]
    # 2020: before the sources' data, but the agreements (from 2018) are known
    old = gt.monthly_inputs(small, "2020-01")
    assert all(v is None for k, v in old.items() if k not in gt.AGREEMENT_KEYS)
    assert old["agreements"] > 0
    assert all(v is None for v in gt.monthly_inputs(small, "2017-01").values())


def test_client_monthly_adds_up_to_the_totals(small):
    internal = next(c["cw_company_id"] for c in small.clients if c["kind"] == "internal")
    for period in _periods(small)[-4:]:
        total = gt.monthly_inputs(small, period)
        per_client = gt.client_monthly(small, period)
        assert internal not in per_client
        assert sum(c["endpoints"] for c in per_client.values()) == total["endpoints_managed"]
        assert sum(c["seats"] for c in per_client.values()) == total["seats_managed"]
        created = sum(c["reactive_tickets_created"] for c in per_client.values())
        assert created <= total["reactive_tickets_created"]
        assert sum(c["agreement_mrr"] for c in per_client.values()) == pytest.approx(
            float(sum(gt.client_mrr(small, _month_end(period)).values()))
        )


def _month_end(period: str) -> date:
    y, m = map(int, period.split("-"))
    return date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)


def test_name_matching_finds_every_client(small):
    orgs = gt.company_for_org(small)
    customers = gt.company_for_customer(small)
    for c in small.clients:
        if c["kind"] != "client":  # the internal org is excluded by name, not matched
            continue
        if c["ninja_name"]:
            assert orgs[c["ninja_name"]] == c["cw_company_id"]
        if c["qbo_customer_id"]:
            assert customers[c["qbo_customer_id"]] == c["cw_company_id"]
        if c["qbo_job_id"]:
            assert customers[c["qbo_job_id"]] == c["cw_company_id"]


def test_security_coverage(small):
    periods = _periods(small)
    assert gt.security_coverage(small, periods[0]) is None  # ThreatLocker starts later
    value = gt.security_coverage(small, periods[-2])
    assert 0.8 <= value <= 0.97


def test_deleted_records_are_not_counted(small):
    m = generate("small", seed=11, today=date(2026, 11, 23))
    period = f"{m.end_month:%Y-%m}"
    before = gt.monthly_inputs(m, period)
    m.advance(4)
    assert m.deleted["cw_time_entries"]
    ids = {e["id"] for e in m.cw_time_entries}
    assert not ids & m.deleted["cw_time_entries"]
    after = gt.monthly_inputs(m, period)
    assert after["reactive_tickets_created"] >= before["reactive_tickets_created"]
