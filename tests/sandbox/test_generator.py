"""The synthetic MSP: shapes, determinism, planted events and the clock."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sandbox import ground_truth as gt
from sandbox.generator.names import normalize_name
from sandbox.msp import (
    CHART_OF_ACCOUNTS,
    INTERNAL_COMPANY,
    INTERNAL_NINJA_ORG,
    MAPPED_COMPANY,
    MAPPED_NINJA_ORG,
    MAPPED_QBO_CUSTOMER,
    PRESETS,
    PROSPECT_COMPANY,
    RECORD_LISTS,
    generate,
)

TODAY = date(2026, 11, 23)
CHICAGO = ZoneInfo("America/Chicago")
CW_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
QBO_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]:00$")


@pytest.fixture(scope="module")
def msp():
    return generate("small", seed=42, today=TODAY)


def local_month(ts: str) -> str:
    instant = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return instant.astimezone(CHICAGO).strftime("%Y-%m")


# -- size, speed, determinism -----------------------------------------------------------


def test_small_preset_size_and_speed():
    started = time.process_time()  # CPU time: other test processes may share the machine
    m = generate("small", seed=7, today=TODAY)
    assert time.process_time() - started < 2.0
    clients = [c for c in m.clients if c["kind"] == "client"]
    assert len(clients) == PRESETS["small"].clients == 8
    assert 120 <= len(m.ninja_devices) <= 190
    assert m.start_month == date(2025, 9, 1) and m.end_month == date(2026, 11, 1)
    assert m.now.tzinfo is not None and m.today == TODAY


def test_same_seed_same_bytes_different_seed_differs():
    a = generate("small", seed=42, today=TODAY)
    b = generate("small", seed=42, today=TODAY)
    c = generate("small", seed=43, today=TODAY)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint(include_snapshots=False) != c.fingerprint(include_snapshots=False)


def test_default_today_is_chicago_date():
    m = generate("small", seed=1)
    assert m.today == datetime.now(CHICAGO).date()


@pytest.mark.parametrize("today", [date(2025, 3, 1), date(2024, 1, 1), date(2026, 7, 31)])
def test_other_calendar_positions_generate_and_evaluate(today):
    m = generate("small", seed=3, today=today)
    months = {local_month(t["_info"]["dateEntered"]) for t in m.cw_tickets}
    assert max(months) <= f"{today:%Y-%m}"
    for period in (f"{m.start_month:%Y-%m}", f"{today:%Y-%m}"):
        values = gt.monthly_inputs(m, period)
        assert values["mrr"] is not None and values["endpoints_managed"] is not None


# -- ConnectWise shapes ------------------------------------------------------------------------


def test_ticket_shape_matches_the_api(msp):
    for t in msp.cw_tickets:
        assert "dateEntered" not in t
        assert CW_TS.match(t["_info"]["dateEntered"]) and CW_TS.match(t["_info"]["lastUpdated"])
        assert t["_info"]["lastUpdated"] >= t["_info"]["dateEntered"]
        for ref in ("board", "status", "company", "priority"):
            assert set(t[ref]) >= {"id", "name", "_info"}
        assert "identifier" in t["company"]
        if t["closedDate"]:
            assert CW_TS.match(t["closedDate"])
    ids = [t["id"] for t in msp.cw_tickets]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_boards_statuses_and_record_types(msp):
    boards = {b["name"]: b for b in msp.cw_boards}
    assert {"Help Desk", "Projects", "Alerts", "Sales"} <= set(boards)
    assert boards["Projects"]["projectFlag"] and not boards["Help Desk"]["projectFlag"]
    by_board = defaultdict(Counter)
    for t in msp.cw_tickets:
        by_board[t["board"]["name"]][t["status"]["name"]] += 1
        if t["board"]["name"] == "Projects":
            assert t["recordType"] == "ProjectTicket"
    help_desk = by_board["Help Desk"]
    for status in (">Closed", ">Closed - No response", "Closed", "New", "In Progress",
                   "Waiting on Client"):  # fmt: skip
        assert help_desk[status] > 0, status
    assert all(by_board[b] for b in ("Projects", "Alerts", "Sales"))


def test_parent_child_and_cross_month_closing(msp):
    tickets = {t["id"]: t for t in msp.cw_tickets}
    children = [t for t in msp.cw_tickets if t["parentTicketId"]]
    assert children
    for child in children:
        parent = tickets[child["parentTicketId"]]
        assert parent["hasChildTicket"] and parent["board"]["name"] == child["board"]["name"]
    later = [t for t in msp.cw_tickets if t["closedDate"]
             and local_month(t["closedDate"]) > local_month(t["_info"]["dateEntered"])]  # fmt: skip
    assert len(later) > 10
    reopened = [t for t in msp.cw_tickets if t["closedDate"] and not t["closedFlag"]]
    assert reopened, "a reopened ticket keeps closedDate but has an open status"


def test_month_boundary_timestamps(msp):
    boundary = [t for t in msp.cw_tickets if t["id"] in set(msp.events["boundary_tickets"])]
    assert len(boundary) >= 12
    for t in boundary:
        entered = t["_info"]["dateEntered"]
        assert entered[:7] != local_month(entered)  # UTC says next month, Chicago says this one


def test_time_entries(msp):
    kinds = Counter(e["chargeToType"] for e in msp.cw_time_entries)
    assert kinds["ServiceTicket"] and kinds["ProjectTicket"] and kinds["ChargeCode"]
    tickets = {t["id"]: t for t in msp.cw_tickets}
    hours = defaultdict(Decimal)
    for e in msp.cw_time_entries:
        assert Decimal(str(e["actualHours"])) == Decimal(str(e["actualHours"])).quantize(
            Decimal("0.01")
        )
        assert e["actualHours"] > 0 and CW_TS.match(e["dateEntered"])
        if e["chargeToType"] == "ChargeCode":
            assert e["ticket"] is None and e["company"]["name"] == INTERNAL_COMPANY
        else:
            ticket = tickets[e["chargeToId"]]
            assert e["ticket"]["id"] == ticket["id"]
            assert (ticket["recordType"] == "ProjectTicket") == (
                e["chargeToType"] == "ProjectTicket"
            )
            hours[ticket["id"]] += Decimal(str(e["actualHours"]))
    for tid, total in hours.items():
        assert Decimal(str(tickets[tid]["actualHours"])) == total
    entered_next_month = [e for e in msp.cw_time_entries
                          if local_month(e["dateEntered"]) != local_month(e["timeStart"])]  # fmt: skip
    assert entered_next_month


def test_agreements_and_members(msp):
    types = Counter(a["type"]["name"] for a in msp.cw_agreements)
    assert {"Managed Services", "Managed Security", "Block Time", "Project"} <= set(types)
    cancelled = [a for a in msp.cw_agreements if a["cancelledFlag"]]
    assert cancelled
    for a in cancelled:
        end = date.fromisoformat(a["endDate"][:10])
        assert date.fromisoformat(a["dateCancelled"][:10]) == end + timedelta(days=1)
        assert a["agreementStatus"] == "Cancelled"
    replaced = [a for a in msp.cw_agreements if a["agreementStatus"] == "Expired"
                and a["type"]["name"] == "Managed Services"]  # fmt: skip
    assert replaced, "growth/shrink is modelled as replacement agreements"
    cycles = {a["billingCycle"]["name"] for a in msp.cw_agreements}
    assert {"Monthly", "Annual", "One Time"} <= cycles
    assert any(m["inactiveFlag"] for m in msp.cw_members)
    assert 3 <= len(msp.cw_members) <= 12


def test_named_companies_and_cross_system_names(msp):
    names = {c["name"]: c for c in msp.cw_companies}
    assert {INTERNAL_COMPANY, MAPPED_COMPANY, PROSPECT_COMPANY} <= set(names)
    assert names[MAPPED_COMPANY]["identifier"] == "BlueRidgeVet"
    assert "Acme Dental, LLC" in names
    assert {o["name"] for o in msp.ninja_organizations} >= {INTERNAL_NINJA_ORG, MAPPED_NINJA_ORG,
                                                             "ACME Dental"}  # fmt: skip
    assert {c["DisplayName"] for c in msp.qbo_customers} >= {MAPPED_QBO_CUSTOMER, "Acme Dental LLC"}
    for c in msp.clients:
        if c["kind"] == "client" and c["cw_name"] != MAPPED_COMPANY:
            assert normalize_name(c["cw_name"]) == normalize_name(c["qbo_name"])
            assert normalize_name(c["cw_name"]) == normalize_name(c["ninja_name"])
            assert len({c["cw_name"], c["qbo_name"], c["ninja_name"]}) > 1
    keys = [normalize_name(c["cw_name"]) for c in msp.clients]
    assert len(keys) == len(set(keys))
    prospect = names[PROSPECT_COMPANY]["id"]
    assert not any(a["company"]["id"] == prospect for a in msp.cw_agreements)
    assert PROSPECT_COMPANY not in {c["DisplayName"] for c in msp.qbo_customers}
    assert any(t["company"]["id"] == prospect for t in msp.cw_tickets)


# -- QuickBooks ------------------------------------------------------------------------------


def test_chart_of_accounts_covers_every_category():
    categories = {a["category"] for a in CHART_OF_ACCOUNTS}
    assert categories == {"nrr", "mrr", "orr", "product_sales", "misc_revenue",
                          "employee_expense", "owner_comp_taxes", "owner_comp", "product_cogs",
                          "other_expenses", None}  # fmt: skip
    assert [a["name"] for a in CHART_OF_ACCOUNTS if a["category"] is None] == ["Ask My Accountant"]
    trap = next(a for a in CHART_OF_ACCOUNTS if a["name"] == "Officer Payroll")
    assert trap["category"] == "owner_comp"
    assert "Payroll" in trap["fully_qualified_name"] and "Expense" in trap["fully_qualified_name"]
    assert {a["section"] for a in CHART_OF_ACCOUNTS} == {"Income", "COGS", "Expenses",
                                                         "OtherIncome", "OtherExpenses"}  # fmt: skip
    assert len({a["id"] for a in CHART_OF_ACCOUNTS}) == len(CHART_OF_ACCOUNTS)


def test_qbo_entities(msp):
    accounts = {a["Id"]: a for a in msp.qbo_accounts}
    assert all(a["id"] in accounts for a in CHART_OF_ACCOUNTS)
    detail_types = Counter(ln["DetailType"] for i in msp.qbo_invoices for ln in i["Line"])
    for kind in ("SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail",
                 "DescriptionOnly"):  # fmt: skip
        assert detail_types[kind], kind
    for inv in msp.qbo_invoices:
        assert QBO_TS.match(inv["MetaData"]["CreateTime"])
        assert QBO_TS.match(inv["MetaData"]["LastUpdatedTime"])
        sales = sum(Decimal(str(ln["Amount"])) for ln in inv["Line"]
                    if ln["DetailType"] == "SalesItemLineDetail")  # fmt: skip
        discount = sum(Decimal(str(ln["Amount"])) for ln in inv["Line"]
                       if ln["DetailType"] == "DiscountLineDetail")  # fmt: skip
        assert Decimal(str(inv["TotalAmt"])) == sales - discount
        assert 0 <= inv["Balance"] <= inv["TotalAmt"]
    paid = {i["Id"] for i in msp.qbo_invoices if i["LinkedTxn"]}
    linked = {lt["TxnId"] for p in msp.qbo_payments for ln in p["Line"] for lt in ln["LinkedTxn"]}
    assert paid == linked
    assert msp.qbo_credit_memos
    assert any(c.get("ParentRef") and c["Job"] for c in msp.qbo_customers)
    assert any(i["Balance"] > 0 for i in msp.qbo_invoices)


def test_pnl_income_equals_invoice_lines(msp):
    """Income accounts are the invoice line sums per item income account per month."""
    expected: dict[tuple[str, date], Decimal] = defaultdict(Decimal)
    for inv in msp.qbo_invoices:
        month = date.fromisoformat(inv["TxnDate"]).replace(day=1)
        for ln in inv["Line"]:
            if ln["DetailType"] == "SalesItemLineDetail":
                acct = ln["SalesItemLineDetail"]["ItemAccountRef"]["value"]
                expected[(acct, month)] += Decimal(str(ln["Amount"]))
            elif ln["DetailType"] == "DiscountLineDetail":
                acct = ln["DiscountLineDetail"]["DiscountAccountRef"]["value"]
                expected[(acct, month)] -= Decimal(str(ln["Amount"]))
    for cm in msp.qbo_credit_memos:
        month = date.fromisoformat(cm["TxnDate"]).replace(day=1)
        for ln in cm["Line"]:
            if ln["DetailType"] == "SalesItemLineDetail":
                acct = ln["SalesItemLineDetail"]["ItemAccountRef"]["value"]
                expected[(acct, month)] -= Decimal(str(ln["Amount"]))
    income = {a["id"] for a in CHART_OF_ACCOUNTS if a["account_type"] == "Income"}
    pnl = msp.profit_and_loss(msp.start_month, msp.end_month)
    actual = {k: v for k, v in pnl.items() if k[0] in income}
    assert actual == {k: v for k, v in expected.items() if v}
    expense_accounts = {k[0] for k in pnl if k[0] not in income}
    assert {"61", "64", "66", "89", "52", "50"} <= expense_accounts


# -- devices -------------------------------------------------------------------------------------


def test_snapshots_exercise_every_rule(msp):
    dates = msp.snapshot_dates()
    assert msp.events["missing_snapshot_day"]["day"] not in dates
    assert dates[0] == msp.start_month and dates[-1] == msp.today
    day = dates[-1]
    rows = list(msp.iter_device_snapshots("NinjaRMM", start=day, end=day))
    assert {r["snapshot_date"] for r in rows} == {day}
    classes = Counter(r["node_class"] for r in rows)
    assert {"WINDOWS_WORKSTATION", "MAC", "WINDOWS_SERVER", "VMWARE_VM_HOST",
            "VMWARE_VM_GUEST"} <= set(classes)  # fmt: skip
    assert any(r["hostname"].startswith("SPARE-") for r in rows)
    assert any(r["location_name"] == "Spare Stock" for r in rows)
    assert any("spare" in r["display_name"] and "spare" not in r["hostname"].lower()
               for r in rows)  # fmt: skip
    assert any(r["organization_name"] == INTERNAL_NINJA_ORG for r in rows)
    assert {r["billing_status"] for r in rows} == {"billable", "spare"}
    assert len(rows) == len({r["vendor_device_key"] for r in rows})
    assert {int(r["vendor_device_key"]) for r in rows} == {d["id"] for d in msp.ninja_devices}

    tl = list(msp.iter_device_snapshots("ThreatLocker", start=day, end=day))
    covered = {r["hostname"] for r in tl} & {r["hostname"] for r in rows}
    windows = [r for r in rows if r["node_class"] in ("WINDOWS_WORKSTATION", "MAC")]
    ratio = len(covered) / len(rows)
    assert 0.75 <= ratio <= 0.95, ratio
    assert len({r["hostname"] for r in windows} - covered) > 0
    assert msp.snapshot_dates("ThreatLocker")[0] > msp.start_month


def test_snapshot_rows_are_lazy_and_order_independent(msp):
    day = msp.snapshot_dates()[40]
    alone = list(msp.iter_device_snapshots(start=day, end=day))
    within = [r for r in msp.iter_device_snapshots(start=day - timedelta(days=3),
                                                   end=day + timedelta(days=3))
              if r["snapshot_date"] == day]  # fmt: skip
    assert alone == within
    assert not isinstance(msp.iter_device_snapshots(), list)


# -- planted events --------------------------------------------------------------------------------


def test_planted_events(msp):
    ev = msp.events

    def inputs(period):
        return gt.monthly_inputs(msp, period)

    spike = ev["ticket_spike"]["period"]
    months = [f"{m:%Y-%m}" for m in _months(msp)]
    i = months.index(spike)
    spike_count = inputs(spike)["reactive_tickets_created"]
    assert spike_count > 1.5 * inputs(months[i - 1])["reactive_tickets_created"]
    assert spike_count > 1.5 * inputs(months[i + 1])["reactive_tickets_created"]

    new = ev["new_client"]
    assert inputs(new["period"])["new_mrr"] > 0
    lost = ev["churn"]
    assert inputs(lost["lost_period"])["lost_mrr"] > 0
    churn_id = lost["client"]["cw_company_id"]
    after = gt.client_monthly(msp, lost["lost_period"])[churn_id]
    assert after["endpoints"] == 0 and after["agreement_mrr"] == 0
    before = gt.client_monthly(msp, lost["last_period"])[churn_id]
    assert before["endpoints"] > 0 and before["agreement_mrr"] > 0

    wave = ev["onboarding_wave"]
    wave_id = wave["client"]["cw_company_id"]
    j = months.index(wave["period"])
    grow = (gt.client_monthly(msp, months[j])[wave_id]["endpoints"]
            - gt.client_monthly(msp, months[j - 1])[wave_id]["endpoints"])  # fmt: skip
    assert grow >= wave["devices_added"] - 2 >= 10

    missing = ev["missing_snapshot_day"]["day"]
    assert gt.latest_snapshot_date(msp, missing.replace(day=1)) == missing - timedelta(days=1)
    assert ev["deleted_invoice"]["invoice_id"] in msp.deleted["qbo_invoices"]


def _months(msp):
    m, out = msp.start_month, []
    while m <= msp.end_month:
        out.append(m)
        m = date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


# -- the clock ------------------------------------------------------------------------------------


def test_advance_creates_updates_deletes_and_backdates():
    m = generate("small", seed=42, today=TODAY)
    ev = m.events["backdated_entry"]
    assert not ev["applied"]
    period = ev["period"]
    before = gt.monthly_inputs(m, period)
    inv_before = next(i for i in m.qbo_invoices if i["Id"] == ev["invoice_id"])
    old_tickets = {t["id"]: t for t in m.cw_tickets}
    old_now = m.now

    counts = m.advance(3)

    assert m.now == old_now + timedelta(days=3)
    assert counts["created"] > 0 and counts["updated"] > 0 and counts["deleted"] > 0
    assert m.events["backdated_entry"]["applied"]
    after = gt.monthly_inputs(m, period)
    assert after["nrr"] == pytest.approx(before["nrr"] + ev["invoice_amount"])
    assert after["other_expenses"] == pytest.approx(before["other_expenses"] + ev["journal_amount"])
    inv_after = next(i for i in m.qbo_invoices if i["Id"] == ev["invoice_id"])
    assert inv_after["MetaData"]["LastUpdatedTime"] != inv_before["MetaData"]["LastUpdatedTime"]
    assert inv_after["MetaData"]["CreateTime"] == inv_before["MetaData"]["CreateTime"]

    new_tickets = {t["id"]: t for t in m.cw_tickets}
    gone = set(old_tickets) - set(new_tickets)
    assert gone and gone <= m.deleted["cw_tickets"]
    assert max(new_tickets) > max(old_tickets)
    kept = set(old_tickets) & set(new_tickets)
    assert all(new_tickets[i]["_info"]["dateEntered"] == old_tickets[i]["_info"]["dateEntered"]
               for i in kept)  # fmt: skip
    changed = [i for i in kept if new_tickets[i] != old_tickets[i]]
    assert changed and all(
        new_tickets[i]["_info"]["lastUpdated"] > old_tickets[i]["_info"]["lastUpdated"]
        for i in changed
    )
    assert m.snapshot_dates()[-1] == m.today


def test_advance_is_deterministic():
    a = generate("small", seed=42, today=TODAY)
    b = generate("small", seed=42, today=TODAY)
    assert a.advance(2) == b.advance(2)
    assert a.advance(5) == b.advance(5)
    assert a.fingerprint(include_snapshots=False) == b.fingerprint(include_snapshots=False)


def test_record_lists_are_lists_of_dicts(msp):
    for name in RECORD_LISTS:
        records = getattr(msp, name)
        assert isinstance(records, list) and records, name
        assert all(isinstance(r, dict) for r in records)


def test_demo_preset():
    started = time.process_time()
    m = generate("demo", seed=42, today=TODAY)
    assert time.process_time() - started < 8
    assert len([c for c in m.clients if c["kind"] == "client"]) == 40
    assert 500 <= len(m.ninja_devices) <= 700
    assert len({t["_info"]["dateEntered"][:7] for t in m.cw_tickets}) >= 26
    assert 6 <= sum(1 for x in m.cw_members if not x["inactiveFlag"]) <= 10
    counts = [gt.monthly_inputs(m, f"{mo:%Y-%m}")["reactive_tickets_created"]
              for mo in _months(m)[:-1]]  # fmt: skip
    assert 330 <= sorted(counts)[len(counts) // 2] <= 470
