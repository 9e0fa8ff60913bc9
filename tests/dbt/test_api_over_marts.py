"""The real API over the real dbt-built marts: the contract between the two layers.

The API's own tests use hand-made marts; here the marts come from the whole
chain (sandbox over HTTP -> dlt -> dbt) and the API connects as its
least-privileged `qbr_api` role. Every response is validated against
openapi.json, and values are compared with the sandbox's ground truth.
"""

from __future__ import annotations

import psycopg
import pytest

from qbr import apikeys
from tests.api.conftest import SpecClient

API = "/api/qbr"


@pytest.fixture(scope="module")
def client(warehouse):
    from api import create_app
    from qbr.roles import grant_read

    with psycopg.connect(warehouse.settings.url, autocommit=True) as conn:
        grant_read(conn, schema="qbr")  # what the refresh does after each swap
    app = create_app({"QBR_SETTINGS": warehouse.settings, "QBR_RESPONSE_CACHE": False})
    key = apikeys.create(warehouse.settings, "integration", "admin")
    yield SpecClient(app).with_headers(**{"X-API-Key": key})
    app.extensions["qbr_pool"].close()


def _complete_months(client) -> list[str]:
    body = client.get(f"{API}/periods?type=monthly&limit=100").get_json()
    return [p["period"] for p in body["periods"] if p["is_complete"]]


def test_monthly_metrics_equal_ground_truth(client, warehouse):
    from sandbox.ground_truth import monthly_inputs

    months = _complete_months(client)
    assert len(months) >= 12
    for period in months[-3:]:
        body = client.get(f"{API}/metrics/monthly?period={period}").get_json()
        assert body["period"] == period and body["organization_id"] == 1
        served = {m["key"]: m["value"] for m in body["metrics"]}
        truth = monthly_inputs(warehouse.msp, period)
        for key in (
            "reactive_tickets_created",
            "reactive_tickets_closed",
            "endpoints_managed",
            "seats_managed",
            "mrr",
            "total_revenue",
            "net_profit",
            "agreements",
        ):
            expected = truth[key]
            assert served[key] == pytest.approx(
                float(expected) if expected is not None else None
            ), (period, key)


def test_smartnumbers_and_quarterly_from_real_marts(client, warehouse):
    body = client.get(f"{API}/smartnumbers").get_json()
    assert len(body["months"]) == 3
    numbers = {s["key"]: s for s in body["smartnumbers"]}
    assert len(numbers) >= 18
    # total_close_pct recomputed here from the quarter's monthly inputs
    sums = {"reactive_tickets_closed": 0.0, "reactive_tickets_created": 0.0}
    for month in body["months"]:
        monthly = client.get(f"{API}/metrics/monthly?period={month}").get_json()
        for m in monthly["metrics"]:
            if m["key"] in sums:
                sums[m["key"]] += m["value"]
    expected = sums["reactive_tickets_closed"] / sums["reactive_tickets_created"]
    assert numbers["total_close_pct"]["value"] == pytest.approx(expected)
    quarterly = client.get(f"{API}/metrics/quarterly?period={body['period']}").get_json()
    q = {m["key"]: m for m in quarterly["metrics"]}
    assert q["reactive_tickets_created"]["value"] == pytest.approx(sums["reactive_tickets_created"])


def test_clients_definitions_and_export_from_real_marts(client, warehouse):
    clients = client.get(f"{API}/clients?limit=200").get_json()["clients"]
    names = {c["client_name"]: c for c in clients}
    # matchable only through the client_mapping seed
    blue = names["Blue Ridge Veterinary Clinic"]
    assert blue["quickbooks_customer"] == "BRVC Animal Hospital"
    assert "Enersystems, LLC" not in names  # internal org hidden by default
    one = client.get(f"{API}/clients/{blue['client_id']}/metrics").get_json()
    assert one["metrics"]
    definitions = client.get(f"{API}/metrics/definitions").get_json()
    keys = {d["key"] for d in definitions["definitions"]}
    assert {"rhem", "avg_aisp", "net_revenue_retention_pct", "reactive_time_spent"} <= keys
    quarter = client.get(f"{API}/smartnumbers").get_json()["period"]
    csv = client.get(f"{API}/export?period={quarter}&format=csv&view=scorecard")
    assert csv.status_code == 200
    assert b"rhem" in csv.data.lower()


def test_every_else_manual_input_is_accepted_and_reaches_the_smartnumbers(client, warehouse):
    """Walk the catalogue seed (not a list of our own): every input METRICS.md marks
    "manual entry" or "... else manual" is accepted by POST /metrics/manual and shows in
    the monthly value, the quarterly value by its rule, and every SmartNumber using it."""
    import csv

    from qbr.dbt_runner import DBT_PROJECT_DIR

    with open(DBT_PROJECT_DIR / "seeds" / "metric_catalogue.csv", newline="") as f:
        catalogue = {r["metric_key"]: r for r in csv.DictReader(f)}
    manual = [
        k for k, r in catalogue.items() if r["collection"] in ("manual", "collected_or_manual")
    ]
    assert {"lost_mrr", "new_mrr", "agreements", "employees", "ar_over_90_days"} <= set(manual)
    served = {d["key"]: d for d in client.get(f"{API}/metrics/definitions?limit=200").get_json()[
        "definitions"
    ]}  # fmt: skip
    assert all(served[k]["manual_entry"] for k in manual)

    body = client.get(f"{API}/smartnumbers").get_json()
    quarter, months = body["period"], body["months"]
    values = {k: 11 + 2 * i for i, k in enumerate(manual)}  # distinct, hand-picked
    try:
        for month in months:
            r = client.post(
                f"{API}/metrics/manual",
                json={
                    "period": month,
                    "metrics": [{"metric": k, "value": v} for k, v in values.items()],
                    "force": True,  # agreements etc. were collected from ConnectWise
                },
            )
            assert r.status_code == 201, r.get_json()
            assert {s["metric"] for s in r.get_json()["saved"]} == set(manual)
        monthly = client.get(f"{API}/metrics/monthly?period={months[1]}").get_json()["metrics"]
        by_key = {m["key"]: m for m in monthly}
        for key, value in values.items():
            assert by_key[key]["value"] == value and by_key[key]["data_source"] == "manual", key
        # the same value in all three months: sum 3v, avg v, last v
        rule = {k: catalogue[k]["quarterly_rule"] for k in manual}
        expected = {k: 3 * v if rule[k] == "sum" else v for k, v in values.items()}
        q = client.get(f"{API}/metrics/quarterly?period={quarter}").get_json()["metrics"]
        q_by_key = {m["key"]: m["value"] for m in q}
        for key in manual:
            assert q_by_key[key] == pytest.approx(expected[key]), key
        smart = client.get(f"{API}/smartnumbers?period={quarter}").get_json()["smartnumbers"]
        used = set()
        for s in smart:
            for key in manual:
                if key in (s["inputs"] or {}):
                    used.add(key)
                    assert s["inputs"][key] == pytest.approx(expected[key]), (s["key"], key)
        smart_by_key = {s["key"]: s for s in smart}
        assert smart_by_key["lost_mrr"]["value"] == pytest.approx(expected["lost_mrr"])
        assert smart_by_key["net_mrr_gain"]["value"] == pytest.approx(
            expected["new_mrr"] - expected["lost_mrr"]
        )
        assert smart_by_key["tickets_per_tech_per_month"]["inputs"]["technical_employees"] == (
            pytest.approx(values["technical_employees"])
        )
        # every SmartNumber input among them is used by at least one SmartNumber
        feeding = {"employees", "technical_employees", "agreements", "new_agreements",
                   "new_mrr", "lost_mrr", "telemarketing_dials", "first_time_appointments"}  # fmt: skip
        assert feeding <= used
    finally:
        for month in months:
            r = client.delete(f"{API}/metrics/manual?period={month}&metric={','.join(manual)}")
            assert r.status_code == 200, r.get_json()
