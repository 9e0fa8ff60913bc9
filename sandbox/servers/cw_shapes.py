"""ConnectWise records as the real API puts them on the wire (SOURCES.md "Real formats").

The synthetic MSP keeps tidy records (every field present, `None` where empty), which
is what `sandbox.ground_truth` reads. The server sends each record through `on_wire`,
which reproduces what real captured responses show, varied per record (deterministic
by resource and id, so the same record always looks the same):

- fields whose value is null are omitted entirely, at every level;
- nested references carry `_info` with their own href - on some records `_info: null`;
- custom fields are definitions (`id`, `caption`, `type`, `entryMethod`,
  `numberOfDecimals`, `connectWiseId`) whose `value` is absent when nothing was entered;
- records carry extra nested objects the warehouse does not use (`currency`, `sla`,
  `site`, `location`, `timeSheet`, `billingTerms`);
- older boards have `locationId` / `businessUnitId` instead of `location` / `department`.

Every record keeps its `_info.lastUpdated`.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

BASE = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"

CURRENCY = {
    "id": 7,
    "symbol": "$",
    "currencyCode": "USD",
    "decimalSeparator": ".",
    "numberOfDecimals": 2,
    "thousandsSeparator": ",",
    "negativeParenthesesFlag": False,
    "displaySymbolFlag": False,
    "currencyIdentifier": "USD",
    "displayIdFlag": False,
    "rightAlign": False,
    "name": "US Dollars",
    "_info": {"currency_href": f"{BASE}/finance/currencies/7"},
}

#: custom field definitions as ConnectWise lists them on a ticket
CUSTOM_FIELDS = (
    {"id": 4, "caption": "Onsite Visit", "type": "Checkbox", "entryMethod": "EntryField"},
    {"id": 9, "caption": "Root Cause", "type": "Text", "entryMethod": "List"},
    {"id": 12, "caption": "Billing Notes", "type": "TextArea", "entryMethod": "EntryField"},
)
ROOT_CAUSES = ("User error", "Hardware failure", "Vendor outage", "Configuration")


def _knob(resource: str, record_id: Any, salt: str, modulo: int) -> int:
    """A stable small number per (resource, id, salt): the record's variation."""
    digest = hashlib.blake2b(f"{resource}:{record_id}:{salt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % modulo


def omit_nulls(value: Any) -> Any:
    """Null fields are not sent at all (at any depth) - except a reference's
    `_info: null`, which real responses do carry; list items are kept."""
    if isinstance(value, dict):
        return {k: omit_nulls(v) for k, v in value.items() if v is not None or k == "_info"}
    if isinstance(value, list):
        return [omit_nulls(v) for v in value]
    return value


def _ref(kind: str, id_: int, name: str, path: str) -> dict:
    return {"id": id_, "name": name, "_info": {f"{kind}_href": f"{BASE}/{path}/{id_}"}}


def _custom_fields(record_id: Any) -> list[dict]:
    out = []
    for n, definition in enumerate(CUSTOM_FIELDS):
        field = {**definition, "numberOfDecimals": 0, "connectWiseId": f"cf-{definition['id']}"}
        pick = _knob("tickets", record_id, f"cf{n}", 4)
        if definition["type"] == "Checkbox" and pick == 0:
            field["value"] = True
        elif definition["type"] == "Text" and pick < 2:
            field["value"] = ROOT_CAUSES[pick + _knob("tickets", record_id, "rc", 2) * 2]
        # otherwise nothing was entered: no `value` key at all
        out.append(field)
    return out


def _null_some_info(record: dict, resource: str) -> None:
    """On some records one nested reference comes with `_info: null`."""
    refs = [k for k, v in record.items() if isinstance(v, dict) and "_info" in v and k != "_info"]
    if not refs or _knob(resource, record.get("id"), "info-null", 3) != 0:
        return
    key = refs[_knob(resource, record.get("id"), "info-ref", len(refs))]
    record[key] = {**record[key], "_info": None}


def _extras(record: dict, resource: str) -> None:
    rid = record.get("id")
    knob = _knob(resource, rid, "extras", 4)
    if resource == "tickets":
        if knob != 3:
            record["currency"] = copy.deepcopy(CURRENCY)
        if knob in (0, 1):
            record["sla"] = _ref("sla", 1, "Standard SLA", "service/SLAs")
        if knob == 0:
            record["site"] = _ref("site", 30 + rid % 5, "Main", "company/companies/sites")
        record["location"] = record.get("location") or _ref(
            "location", 2, "Chicago", "system/locations"
        )
        record["customFields"] = _custom_fields(rid)
    elif resource == "time_entries":
        if knob != 3:
            record["timeSheet"] = _ref("timeSheet", 4000 + rid % 97, "Week", "time/sheets")
        if knob == 0:
            record["currency"] = copy.deepcopy(CURRENCY)
    elif resource == "agreements":
        record["currency"] = copy.deepcopy(CURRENCY)
        if knob < 2:
            record["billingTerms"] = {"id": 1, "name": "Net 30"}
    elif resource == "companies":
        if knob != 3:
            record["site"] = _ref("site", 30 + rid % 5, "Main", "company/companies/sites")
        record["currency"] = copy.deepcopy(CURRENCY)
    elif resource == "boards" and isinstance(rid, int) and rid % 2 == 0:
        # an older board (every other one: there are few boards): plain ids instead
        # of the location / department references
        location, department = record.pop("location", None), record.pop("department", None)
        if location:
            record["locationId"] = location["id"]
        if department:
            record["businessUnitId"] = department["id"]


def on_wire(record: dict, resource: str) -> dict:
    """`record` (tidy, as the MSP holds it) as the real API would send it."""
    out = copy.deepcopy(record)
    _extras(out, resource)
    _null_some_info(out, resource)
    return omit_nulls(out)
