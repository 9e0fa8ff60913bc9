"""A tiny hand-made MSP with the same interface as `sandbox.msp.MSP`, small enough
to reason about in server tests (exact counts, known values). The full generator
is `sandbox.msp.generate`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

UTC = dt.UTC
PACIFIC = dt.timezone(dt.timedelta(hours=-8))


def _cw(ts: dt.datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _qbo(ts: dt.datetime) -> str:
    return ts.astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M:%S-08:00")


def _ref(id_: int, name: str, kind: str, **extra: Any) -> dict:
    return {"id": id_, **extra, "name": name, "_info": {f"{kind}_href": f"https://x/{kind}/{id_}"}}


BOARDS = [(1, "Help Desk"), (2, "Projects"), (3, "Alerts")]
STATUSES = ["New", "In Progress", ">Closed"]
COMPANIES = [(10, "Acme", "Acme Dental"), (11, "Blue", "Blue Ridge Veterinary Clinic"),
             (12, "Enersystems", "Enersystems, LLC")]  # fmt: skip
MEMBERS = [(101, "asmith", "Ann", "Smith"), (102, "bjones", "Bob", "Jones")]
ACCOUNTS = [
    ("40", "Managed Services Income", "Income", None),
    ("41", "Managed Security Income", "Income", "40"),
    ("46", "Hardware Sales", "Income", None),
    ("50", "Cost of Goods Sold - Hardware", "Cost of Goods Sold", None),
    ("60", "Payroll Expenses", "Expense", None),
    ("61", "Wages - Technical Staff", "Expense", "60"),
    ("64", "Officer Payroll", "Expense", "60"),
    ("70", "Rent Expense", "Expense", None),
    ("90", "Interest Income", "Other Income", None),
    ("95", "Interest Expense", "Other Expense", None),
]
PNL = {
    ("40", dt.date(2025, 1, 1)): Decimal("1000.00"),
    ("41", dt.date(2025, 1, 1)): Decimal("500.00"),
    ("41", dt.date(2025, 2, 1)): Decimal("550.00"),
    ("46", dt.date(2025, 2, 1)): Decimal("1200.50"),
    ("50", dt.date(2025, 2, 1)): Decimal("800.25"),
    ("61", dt.date(2025, 1, 1)): Decimal("3000.00"),
    ("61", dt.date(2025, 2, 1)): Decimal("3100.00"),
    ("64", dt.date(2025, 3, 1)): Decimal("2000.00"),
    ("70", dt.date(2025, 1, 1)): Decimal("900.00"),
    ("90", dt.date(2025, 3, 1)): Decimal("12.34"),
    ("95", dt.date(2025, 3, 1)): Decimal("45.67"),
}


class TinyMSP:
    """30 tickets, 20 time entries, 12 invoices, 25 devices... as of 2025-03-15 12:00Z."""

    preset = "tiny"
    seed = 0

    def __init__(self) -> None:
        self.now = dt.datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
        self.start_month = dt.date(2025, 1, 1)
        self.deleted: dict[str, set] = {}
        self.deleted_at: dict[str, dict[Any, dt.datetime]] = {}
        base = dt.datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
        self.cw_boards = [
            {"id": i, "name": n, "inactiveFlag": False, "projectFlag": n == "Projects",
             "location": _ref(1, "Main", "location"), "department": _ref(1, "Service", "dept"),
             "_info": {"lastUpdated": _cw(base), "dateEntered": _cw(base)}}
            for i, n in BOARDS
        ]  # fmt: skip
        self.cw_companies = [
            {"id": i, "identifier": ident, "name": name, "status": _ref(1, "Active", "status"),
             "types": [_ref(1, "Client", "type")], "deletedFlag": False, "leadFlag": False,
             "isVendorFlag": False, "city": "Dallas",
             "_info": {"lastUpdated": _cw(base), "dateEntered": _cw(base)}}
            for i, ident, name in COMPANIES
        ]  # fmt: skip
        self.cw_members = [
            {"id": i, "identifier": ident, "firstName": f, "lastName": last,
             "inactiveFlag": False, "_info": {"lastUpdated": _cw(base), "dateEntered": _cw(base)}}
            for i, ident, f, last in MEMBERS
        ]  # fmt: skip
        self.cw_tickets = [self._ticket(n, base) for n in range(1, 31)]
        self.cw_time_entries = [self._time_entry(n, base) for n in range(1, 21)]
        self.cw_agreements = [
            {"id": 300 + n, "name": f"Managed Services {n}",
             "type": {"id": 1, "name": "Managed Services", "_info": {}},
             "company": _ref(COMPANIES[n % 3][0], COMPANIES[n % 3][2], "company",
                             identifier=COMPANIES[n % 3][1]),
             "startDate": "2024-01-01T00:00:00Z", "endDate": None, "noEndingDateFlag": True,
             "billAmount": 1000.0 * (n + 1), "cancelledFlag": False, "dateCancelled": None,
             "agreementStatus": "Active", "billingCycle": {"id": 1, "name": "Monthly"},
             "parentAgreement": None,
             "_info": {"lastUpdated": _cw(base), "dateEntered": _cw(base)}}
            for n in range(3)
        ]  # fmt: skip
        qbase = dt.datetime(2025, 1, 2, 18, 0, tzinfo=UTC)
        self.qbo_accounts = [
            {"Id": i, "Name": name,
             "FullyQualifiedName": (f"{dict((a[0], a[1]) for a in ACCOUNTS)[p]}:{name}"
                                    if p else name),
             "AccountType": kind, "Active": True, "SubAccount": p is not None,
             **({"ParentRef": {"value": p}} if p else {}),
             "Classification": "Revenue" if "Income" in kind else "Expense",
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}}
            for i, name, kind, p in ACCOUNTS
        ]  # fmt: skip
        self.qbo_customers = [
            {"Id": str(n), "DisplayName": name, "CompanyName": name, "Active": n != 3,
             "Balance": 0, "Job": False,
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}}
            for n, name in [(1, "Acme Dental"), (2, "BRVC Animal Hospital"), (3, "Old Client")]
        ]  # fmt: skip
        self.qbo_items = [
            {"Id": "1", "Name": "Managed Services", "Type": "Service", "Active": True,
             "IncomeAccountRef": {"value": "40", "name": "Managed Services Income"},
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}},
            {"Id": "2", "Name": "Hardware", "Type": "NonInventory", "Active": True,
             "IncomeAccountRef": {"value": "46", "name": "Hardware Sales"},
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}},
        ]  # fmt: skip
        self.qbo_invoices = [self._invoice(n, qbase) for n in range(1, 13)]
        self.qbo_payments = [
            {"Id": str(200 + n), "TxnDate": "2025-02-01", "TotalAmt": 100.0 * n,
             "CustomerRef": {"value": "1", "name": "Acme Dental"},
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}}
            for n in range(1, 4)
        ]  # fmt: skip
        self.qbo_credit_memos = [
            {"Id": "300", "DocNumber": "CM-1", "TxnDate": "2025-02-10", "TotalAmt": 50.0,
             "Balance": 50.0, "CustomerRef": {"value": "2", "name": "BRVC Animal Hospital"},
             "MetaData": {"CreateTime": _qbo(qbase), "LastUpdatedTime": _qbo(qbase)}}
        ]  # fmt: skip
        self.ninja_organizations = [
            {"id": 1, "name": "Acme", "nodeApprovalMode": "AUTOMATIC"},
            {"id": 2, "name": "BRV-Clinic", "nodeApprovalMode": "AUTOMATIC"},
        ]
        self.ninja_locations = [
            {"id": n, "name": f"Site {n}", "organizationId": 1 + n % 2} for n in range(1, 4)
        ]
        self.ninja_devices = [
            {"id": 1000 + n, "organizationId": 1 + n % 2, "locationId": 1 + n % 3,
             "nodeClass": "WINDOWS_SERVER" if n % 5 == 0 else "WINDOWS_WORKSTATION",
             "displayName": f"PC-{n:03d}", "systemName": f"PC-{n:03d}", "offline": n % 4 == 0,
             "created": 1.7e9 + n, "lastContact": 1.74e9 + n}
            for n in range(1, 26)
        ]  # fmt: skip
        self._next_ticket = 31

    @staticmethod
    def _ticket(n: int, base: dt.datetime) -> dict:
        board_id, board = BOARDS[n % 3]
        company_id, ident, company = COMPANIES[n % 3]
        closed = n % 3 == 0
        entered = base + dt.timedelta(days=n)
        updated = entered + dt.timedelta(hours=n)
        return {
            "id": n,
            "summary": f"Ticket {n}: " + ("Printer offline" if n % 4 == 0 else "Password reset"),
            "recordType": "ProjectTicket" if board == "Projects" else "ServiceTicket",
            "board": _ref(board_id, board, "board"),
            "status": _ref(n % 3 + 1, STATUSES[2] if closed else STATUSES[n % 2], "status"),
            "company": _ref(company_id, company, "company", identifier=ident),
            "priority": _ref(1, "Priority 3 - Normal", "priority"),
            "owner": _ref(*MEMBERS[n % 2][:2], "member") if n % 7 else None,
            "parentTicketId": 5 if n in (6, 7) else None,
            "closedFlag": closed,
            "closedDate": _cw(updated) if closed else None,
            "actualHours": round(0.25 * n, 2),
            "budgetHours": None,
            "customFields": [],
            "_info": {"lastUpdated": _cw(updated), "dateEntered": _cw(entered),
                      "enteredBy": "asmith", "updatedBy": "bjones"},
        }  # fmt: skip

    @staticmethod
    def _time_entry(n: int, base: dt.datetime) -> dict:
        start = base + dt.timedelta(days=n, hours=2)
        hours = 0.5 + (n % 4) * 0.5
        return {
            "id": 500 + n,
            "company": _ref(10, "Acme Dental", "company", identifier="Acme"),
            "chargeToId": n, "chargeToType": "ServiceTicket",
            "member": _ref(*MEMBERS[n % 2][:2], "member"),
            "timeStart": _cw(start), "timeEnd": _cw(start + dt.timedelta(hours=hours)),
            "actualHours": hours, "hoursBilled": hours if n % 2 else 0.0,
            "billableOption": "Billable" if n % 2 else "DoNotBill",
            "ticket": {"id": n, "summary": f"Ticket {n}"},
            "notes": "work", "dateEntered": _cw(start),
            "_info": {"lastUpdated": _cw(start + dt.timedelta(hours=hours))},
        }  # fmt: skip

    @staticmethod
    def _invoice(n: int, base: dt.datetime) -> dict:
        updated = base + dt.timedelta(days=3 * n)
        amount = 100.0 * n
        return {
            "Id": str(100 + n), "DocNumber": f"INV-{n:04d}",
            "TxnDate": (dt.date(2025, 1, 1) + dt.timedelta(days=5 * n)).isoformat(),
            "DueDate": (dt.date(2025, 1, 31) + dt.timedelta(days=5 * n)).isoformat(),
            "CustomerRef": {"value": str(1 + n % 2),
                            "name": "Acme Dental" if n % 2 == 0 else "BRVC Animal Hospital"},
            "TotalAmt": amount, "Balance": amount if n % 3 else 0.0,
            "Line": [{"Id": "1", "LineNum": 1, "Amount": amount, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Managed Services"},
                                              "Qty": 1, "UnitPrice": amount}},
                     {"Amount": amount, "DetailType": "SubTotalLineDetail",
                      "SubTotalLineDetail": {}}],
            "MetaData": {"CreateTime": _qbo(updated), "LastUpdatedTime": _qbo(updated)},
        }  # fmt: skip

    def profit_and_loss(self, start: dt.date, end: dt.date) -> dict[tuple[str, dt.date], Decimal]:
        first = start.replace(day=1)
        return {k: v for k, v in PNL.items() if first <= k[1] <= end}

    def advance(self, days: int) -> dict[str, int]:
        """One new ticket, one updated ticket, one deleted invoice per call."""
        self.now = self.now + dt.timedelta(days=days)
        stamp = self.now - dt.timedelta(hours=1)
        ticket = self._ticket(self._next_ticket, self.now - dt.timedelta(days=self._next_ticket))
        ticket["_info"]["lastUpdated"] = _cw(stamp)
        self._next_ticket += 1
        tickets = [dict(t) for t in self.cw_tickets]
        tickets[0] = {**tickets[0], "summary": "Updated", "_info": {
            **tickets[0]["_info"], "lastUpdated": _cw(stamp)}}  # fmt: skip
        self.cw_tickets = [*tickets, ticket]
        deleted = 0
        if self.qbo_invoices:
            gone = self.qbo_invoices[0]
            self.qbo_invoices = self.qbo_invoices[1:]
            self.deleted.setdefault("qbo_invoices", set()).add(gone["Id"])
            self.deleted_at.setdefault("qbo_invoices", {})[gone["Id"]] = stamp
            deleted = 1
        return {"created": 1, "updated": 1, "deleted": deleted}
