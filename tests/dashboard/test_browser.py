"""The dashboard in headless Chromium over `qbr demo` (small preset, real warehouse).

Every expected value comes from the JSON API read with the key (or from
the database), never from the page itself; the expected display text is
formatted here in Python from the unit rules in README ("Dashboard").
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import time

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.dashboard.conftest import screenshot, wait_for, wait_ready

pytestmark = pytest.mark.slow

SHEET_CATEGORIES = ["Operations", "Profit", "Revenue", "Leverage", "Sales"]
BEYOND = {
    "net_revenue_retention_pct",
    "gross_revenue_retention_pct",
    "labor_efficiency_ratio",
    "endpoint_security_coverage_pct",
}
MINUS = "\u2212"


def expected_text(v, unit: str) -> str:
    """The dashboard's number format, written out independently."""
    if v is None:
        return "N/A"
    sign = MINUS if v < 0 else ""
    a = abs(v)
    if unit == "dollars":
        return f"{sign}${a:,.0f}" if a >= 100 or a == int(a) else f"{sign}${a:,.2f}"
    if unit == "percent":
        return f"{sign}{a * 100:,.1f}%"
    if unit == "hours":
        return f"{sign}{a:,.2f} h"
    if unit == "ratio":
        return f"{sign}{a:,.2f}"
    digits = 2 if unit == "tickets" or a < 100 else 0
    text = f"{a:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return sign + text


def signin(driver, demo, key: str, path: str = "/") -> None:
    driver.delete_all_cookies()
    # a real navigation even when only the #fragment differs from the current page
    driver.get("about:blank")
    driver.get(demo.url + path)
    field = wait_for(lambda: driver.find_element(By.ID, "api-key"))
    field.send_keys(key + Keys.ENTER)  # Enter submits
    wait_ready(driver)


def tiles(driver) -> dict[str, dict]:
    out = {}
    for t in driver.find_elements(By.CSS_SELECTOR, "#main .tile"):
        out[t.get_attribute("data-key")] = {
            "value": t.get_attribute("data-value"),
            "status": t.get_attribute("data-status"),
            "text": t.find_element(By.CSS_SELECTOR, ".value").text,
            "status_text": t.find_element(By.CSS_SELECTOR, ".status").text,
            "el": t,
        }
    return out


def session_cookies(driver) -> dict[str, str]:
    return {c["name"]: c["value"] for c in driver.get_cookies()}


# ---------------------------------------------------------------- sign-in and scorecard


def test_root_opens_sign_in_and_a_bad_key_is_refused(demo, browser):
    browser.delete_all_cookies()
    browser.get(demo.url + "/")
    assert "/signin" in browser.current_url
    org = demo.sql("select name from qbr_app.organization where id = 1")[0][0]
    assert browser.find_element(By.CSS_SELECTOR, ".org-name").text == org
    # one password field, nothing else to fill in
    inputs = browser.find_elements(By.CSS_SELECTOR, "form input")
    assert [i.get_attribute("type") for i in inputs] == ["password"]
    inputs[0].send_keys("qbr_nope_not-a-key" + Keys.ENTER)
    err = wait_for(lambda: browser.find_element(By.ID, "signin-error").text)
    assert "not valid" in err
    assert "/signin" in browser.current_url
    screenshot(browser, "01-signin", ready=False)


def test_scorecard_shows_the_api_values_grouped_and_formatted(demo, browser):
    signin(browser, demo, demo.admin_key)
    assert browser.current_url.rstrip("/") == demo.url
    api = demo.api("/smartnumbers")
    period = api["period"]
    assert (
        Select(browser.find_element(By.ID, "quarter-picker")).first_selected_option.get_attribute(
            "value"
        )
        == period
    )
    shown = tiles(browser)
    assert set(shown) == {s["key"] for s in api["smartnumbers"]}
    for sn in api["smartnumbers"]:
        tile = shown[sn["key"]]
        if sn["value"] is None:
            assert tile["value"] == "" and tile["text"].startswith("N/A")
            missing = [k for k, v in sn["inputs"].items() if v is None]
            assert missing and "needs" in tile["text"], sn["key"]
        else:
            assert float(tile["value"]) == pytest.approx(sn["value"], rel=1e-12), sn["key"]
            assert tile["text"] == expected_text(sn["value"], sn["unit"]), sn["key"]
        assert tile["status"] == (sn["status"] or "")
        label = {"green": "On target", "yellow": "Watch", "red": "Off target", None: "No target"}
        want = "No value" if sn["value"] is None else label[sn["status"]]
        assert tile["status_text"].endswith(want)  # text beside the colour
    # the demo's manual history: every SmartNumber of the sheet has a value
    sheet = [s for s in api["smartnumbers"] if s["key"] not in BEYOND]
    assert len(sheet) == 18
    assert [s["key"] for s in sheet if s["value"] is None] == []
    # categories in the catalogue's order, then the four beyond the sheet
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#main .category h2")]
    assert headings == [*SHEET_CATEGORIES, "Beyond the sheet"]
    last = browser.find_elements(By.CSS_SELECTOR, "#main .category")[-1]
    assert {t.get_attribute("data-key") for t in last.find_elements(By.CSS_SELECTOR, ".tile")} == (
        BEYOND
    )
    # QoQ of a percent metric is labelled in percentage points
    pct = next(s for s in sheet if s["unit"] == "percent" and s["qoq_change"] is not None)
    qoq = shown[pct["key"]]["el"].find_element(By.CSS_SELECTOR, ".change").text
    assert qoq.startswith("QoQ") and qoq.endswith(f"{abs(pct['qoq_change']) * 100:.1f} pp"), qoq
    # header: "data as of" per source, and the last refresh
    fresh = browser.find_element(By.ID, "freshness").text
    assert "connectwise data as of" in fresh and "Last refresh: succeeded" in fresh
    screenshot(browser, "02-scorecard")


def test_every_complete_demo_quarter_has_all_18_values(demo):
    quarters = demo.api("/periods", type="quarterly")["periods"]
    covered = [
        q["period"]
        for q in quarters
        if q["is_complete"] and all(q["coverage"][s] for s in ("connectwise", "quickbooks"))
    ]
    assert len(covered) >= 3
    for q in covered:
        sns = demo.api("/smartnumbers", period=q)["smartnumbers"]
        nulls = [s["key"] for s in sns if s["key"] not in BEYOND and s["value"] is None]
        assert nulls == [], (q, nulls)


def test_quarter_picker_and_in_progress_quarter(demo, browser):
    signin(browser, demo, demo.admin_key)
    periods = demo.api("/periods", type="quarterly")["periods"]
    current = next(p["period"] for p in periods if p["is_in_progress"])
    Select(browser.find_element(By.ID, "quarter-picker")).select_by_value(current)
    wait_for(lambda: f"period={current}" in browser.current_url)
    wait_ready(browser)
    note = browser.find_element(By.ID, "in-progress-note").text
    assert current in note and "provisional" in note
    for t in tiles(browser).values():
        assert t["status"] == ""  # not coloured as if final
    browser.back()  # the back button returns to the previous quarter
    wait_ready(browser)
    assert "period=" not in browser.current_url
    # a quarter before the sources' history: every null says which inputs it needs, by name
    first = periods[0]["period"]
    browser.get(f"{demo.url}/?period={first}")
    wait_ready(browser)
    names = {
        d["key"]: d["name"] for d in demo.api("/metrics/definitions", limit=1000)["definitions"]
    }
    shown = tiles(browser)
    nulls = [
        sn for sn in demo.api("/smartnumbers", period=first)["smartnumbers"] if sn["value"] is None
    ]
    assert nulls
    for sn in nulls:
        missing = [names.get(k, k.replace("_", " ")) for k, v in sn["inputs"].items() if v is None]
        assert shown[sn["key"]]["text"] == "N/A\n\u2014 needs " + ", ".join(missing), sn["key"]
        assert shown[sn["key"]]["status_text"] == "No value"


# ---------------------------------------------------------------- drill-down


def test_drill_down_from_a_smartnumber_to_its_inputs_and_a_client(demo, browser):
    signin(browser, demo, demo.admin_key)
    period = demo.api("/smartnumbers")["period"]
    tiles(browser)["rhem"]["el"].click()
    wait_ready(browser)
    assert browser.current_url.endswith(f"/kpi/rhem?period={period}")
    defs = {d["key"]: d for d in demo.api("/metrics/definitions", limit=1000)["definitions"]}
    assert browser.find_element(By.ID, "formula").text == defs["rhem"]["formula"]
    q = demo.api(
        "/metrics/quarterly", period=period, metric="reactive_time_spent,endpoints_managed"
    )
    rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#inputs-table tr[data-input]"))
    shown = {
        r.get_attribute("data-input"): [c.text for c in r.find_elements(By.TAG_NAME, "td")]
        for r in rows
    }
    for m in q["metrics"]:
        months = [expected_text(p["value"], m["unit"]) for p in m["monthly_values"]]
        assert shown[m["key"]][:3] == months, m["key"]
        assert shown[m["key"]][3].startswith(expected_text(m["value"], m["unit"]))
        assert shown[m["key"]][4] == "collected"
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#trend-chart.chart-ready"))
    screenshot(browser, "03-smartnumber-detail")
    # -> the input, its months, and its per-client breakdown for the quarter's last month
    browser.find_element(By.CSS_SELECTOR, 'tr[data-input="reactive_time_spent"] th a').click()
    wait_ready(browser)
    assert "/inputs/reactive_time_spent" in browser.current_url
    month = q["months"][-1]
    client_rows = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#client-table tbody tr"))
    clients = demo.api("/clients", limit=1000)["clients"]
    expected = {}
    for c in clients:
        body = demo.api(
            "/metrics/monthly", period=month, client=c["client_id"], metric="reactive_time_spent"
        )
        if body["metrics"] and body["metrics"][0]["value"] is not None:
            expected[str(c["client_id"])] = body["metrics"][0]["value"]
    got = {
        r.get_attribute("data-client"): r.find_element(By.CSS_SELECTOR, "td").text
        for r in client_rows
    }
    assert got == {k: expected_text(v, "hours") for k, v in expected.items()}
    top = client_rows[0].get_attribute("data-client")
    screenshot(browser, "04-input-detail")
    browser.find_element(By.CSS_SELECTOR, f'#client-table tr[data-client="{top}"] th a').click()
    wait_ready(browser)
    name = next(c["client_name"] for c in clients if str(c["client_id"]) == top)
    assert browser.find_element(By.ID, "client-name").text == name
    assert f"/clients/{top}" in browser.current_url
    screenshot(browser, "05-client")
    browser.back()
    wait_ready(browser)
    assert "/inputs/reactive_time_spent" in browser.current_url


# ---------------------------------------------------------------- writes


def test_manual_value_changes_the_smartnumber(demo, browser):
    signin(browser, demo, demo.admin_key)
    period = demo.api("/smartnumbers")["period"]
    month = demo.api("/smartnumbers")["months"][-1]
    before = next(
        s for s in demo.api("/smartnumbers", metric="tickets_per_tech_per_month")["smartnumbers"]
    )
    browser.get(f"{demo.url}/inputs/technical_employees?period={period}&month={month}")
    wait_ready(browser)
    browser.find_element(By.ID, "manual-value").send_keys("7")
    browser.find_element(By.ID, "manual-notes").send_keys("browser test")
    browser.find_element(By.ID, "manual-save").click()
    wait_for(lambda: "browser test" in browser.find_element(By.ID, "manual-history").text)
    wait_ready(browser)
    # independently: S(closed) / A(technical employees) / 3 over the quarter's months
    q = demo.api(
        "/metrics/quarterly", period=period, metric="reactive_tickets_closed,technical_employees"
    )
    by = {m["key"]: m for m in q["metrics"]}
    techs = [p["value"] for p in by["technical_employees"]["monthly_values"]]
    assert techs[-1] == 7
    closed = sum(p["value"] for p in by["reactive_tickets_closed"]["monthly_values"])
    expected = closed / (sum(techs) / 3) / 3
    browser.get(f"{demo.url}/?period={period}")
    wait_ready(browser)
    tile = tiles(browser)["tickets_per_tech_per_month"]
    assert float(tile["value"]) == pytest.approx(expected, rel=1e-9)
    assert float(tile["value"]) != pytest.approx(before["value"], rel=1e-9)
    # a negative headcount is refused next to the field
    browser.get(f"{demo.url}/inputs/technical_employees?period={period}&month={month}")
    wait_ready(browser)
    browser.find_element(By.ID, "manual-value").send_keys("-2")
    browser.find_element(By.ID, "manual-save").click()
    err = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#manual-form .field-error").text)
    assert "negative" in err.lower()


def test_threshold_edit_changes_the_colour(demo, browser):
    signin(browser, demo, demo.admin_key)
    resp = demo.api("/smartnumbers", metric="avg_aisp")
    sn, period = resp["smartnumbers"][0], resp["period"]
    value = sn["value"]
    assert value is not None
    browser.get(demo.url + "/settings")
    wait_ready(browser)
    Select(browser.find_element(By.ID, "th-metric")).select_by_value("avg_aisp")
    wait_for(lambda: browser.find_element(By.ID, "th-preview-count"))
    Select(browser.find_element(By.ID, "th-direction")).select_by_value("higher_is_better")
    # green only from twice the current value: the current quarter turns red
    bands = {"green_min": value * 2, "yellow_min": value * 1.5, "green_max": "", "yellow_max": ""}
    for field, v in bands.items():
        el = browser.find_element(By.ID, f"th-{field}")
        el.clear()
        el.send_keys(str(v))
    preview = wait_for(lambda: browser.find_element(By.ID, "th-preview-count").text)
    assert not preview.startswith("0 ")  # the live preview names quarters changing colour
    screenshot_before_save = browser.find_element(By.ID, "th-preview").text
    assert period in screenshot_before_save
    browser.find_element(By.ID, "th-save").click()
    wait_for(lambda: "Saved" in browser.find_element(By.ID, "th-error").text)
    assert demo.api("/thresholds/avg_aisp")["green_min"] == pytest.approx(value * 2)
    browser.get(demo.url + "/")
    wait_ready(browser)
    tile = tiles(browser)["avg_aisp"]
    assert tile["status"] == "red" and tile["status_text"].endswith("Off target")
    assert demo.api("/smartnumbers", metric="avg_aisp")["smartnumbers"][0]["status"] == "red"
    # an invalid band (yellow above green for higher_is_better) is refused with the API's message
    browser.get(demo.url + "/settings")
    wait_ready(browser)
    Select(browser.find_element(By.ID, "th-metric")).select_by_value("avg_aisp")
    time.sleep(0.5)
    el = browser.find_element(By.ID, "th-yellow_min")
    el.clear()
    el.send_keys(str(value * 3))
    browser.find_element(By.ID, "th-save").click()
    assert wait_for(
        lambda: (
            browser.find_element(By.ID, "th-error").text
            or browser.find_element(By.CSS_SELECTOR, ".band-fields .field-error:not(:empty)").text
        )
    )
    screenshot(browser, "06-settings")


def test_refresh_starts_and_finishes(demo, browser):
    signin(browser, demo, demo.admin_key)
    browser.get(demo.url + "/settings")
    wait_ready(browser)
    before = {r["batch_id"] for r in demo.api("/refresh", limit=100)["runs"]}
    browser.find_element(By.ID, "refresh-start").click()
    # live progress, then the outcome
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#refresh-status progress"), timeout=30)
    outcome = wait_for(
        lambda: (
            browser.find_element(By.ID, "refresh-outcome").get_attribute("data-status")
            in ("succeeded", "partial", "failed")
            and browser.find_element(By.ID, "refresh-outcome")
        ),
        timeout=240,
    )
    runs = demo.api("/refresh", limit=100)["runs"]
    new = [r for r in runs if r["batch_id"] not in before]
    assert len(new) == 1 and new[0]["status"] == "succeeded"
    assert outcome.get_attribute("data-status") == "succeeded"
    assert "succeeded" in outcome.text
    steps = {
        r.get_attribute("data-step")
        for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-step]")
    }
    detail = demo.api(f"/refresh/{new[0]['batch_id']}")
    assert steps == {s["name"] for s in detail["steps"]}


# ---------------------------------------------------------------- export, print, present


def test_export_buttons_download_the_review(demo, browser):
    signin(browser, demo, demo.admin_key)
    period = demo.api("/smartnumbers")["period"]
    csv_href = browser.find_element(By.ID, "export-csv").get_attribute("href")
    xlsx_href = browser.find_element(By.ID, "export-xlsx").get_attribute("href")
    assert f"period={period}" in csv_href
    jar = session_cookies(browser)
    r = requests.get(csv_href, cookies=jar, timeout=30)  # the browser's session, no key
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text)))
    direct = requests.get(
        f"{demo.url}/api/qbr/export",
        params={"period": period, "format": "csv", "view": "scorecard"},
        headers={"X-API-Key": demo.admin_key},
        timeout=30,
    )
    assert rows == list(csv.reader(io.StringIO(direct.text)))
    assert len(rows) > 18
    x = requests.get(xlsx_href, cookies=jar, timeout=30)
    assert x.status_code == 200 and x.content[:2] == b"PK"


def test_print_view_is_one_document_and_prints_to_pdf(demo, browser):
    signin(browser, demo, demo.admin_key)
    period = demo.api("/smartnumbers")["period"]
    browser.find_element(By.ID, "print-link").click()
    wait_ready(browser)
    wait_for(
        lambda: "print-ready" in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    )
    header = browser.execute_script("return document.getElementById('print-header').textContent")
    org = demo.sql("select name from qbr_app.organization where id = 1")[0][0]
    assert org in header and period in header and "data as of" in header
    running = browser.execute_script(
        "return document.getElementById('print-running-header').textContent"
    )  # printed in every page's top margin
    assert "@top-left" in running and org in running and period in running
    assert len(browser.find_elements(By.CSS_SELECTOR, "#main .tile")) == len(
        demo.api("/smartnumbers")["smartnumbers"]
    )
    assert browser.find_element(By.ID, "mbr-table")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".print-trends .chart-ready")) >= 18
    pdf = base64.b64decode(
        browser.execute_cdp_cmd("Page.printToPDF", {"landscape": True, "printBackground": True})[
            "data"
        ]
    )
    assert pdf[:5] == b"%PDF-" and pdf.count(b"/Type /Page") >= 3
    screenshot(browser, "07-print")


def test_present_mode_one_category_per_slide(demo, browser):
    signin(browser, demo, demo.admin_key)
    browser.find_element(By.ID, "present-link").click()
    wait_ready(browser)

    def visible():
        return [s for s in browser.find_elements(By.CSS_SELECTOR, ".slide") if s.is_displayed()]

    assert len(visible()) == 1 and "Quarterly Business Review" in visible()[0].text
    body = browser.find_element(By.TAG_NAME, "body")
    seen = []
    for _ in range(6):
        body.send_keys(Keys.ARROW_RIGHT)
        slide = wait_for(
            lambda: visible()[0] if visible()[0].get_attribute("data-category") else None
        )
        seen.append(slide.get_attribute("data-category"))
    assert seen == [*SHEET_CATEGORIES, "Beyond the sheet"]
    ops_keys = {
        s["key"]
        for s in demo.api("/smartnumbers")["smartnumbers"]
        if s["category"] == "Operations" and s["key"] not in BEYOND
    }
    body.send_keys(Keys.HOME)
    body.send_keys(Keys.ARROW_RIGHT)
    slide = wait_for(
        lambda: (
            visible()[0] if visible()[0].get_attribute("data-category") == "Operations" else None
        )
    )
    assert {
        t.get_attribute("data-key") for t in slide.find_elements(By.CSS_SELECTOR, ".tile")
    } == ops_keys
    body.send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: visible()[0].get_attribute("data-slide") == "0")
    browser.get(browser.current_url.split("#")[0] + "#1")
    screenshot(browser, "08-present")


def test_other_screens_render(demo, browser):
    """MBR grid, trends, clients: rendered from the API, screenshotted for review."""
    signin(browser, demo, demo.admin_key)
    period = demo.api("/smartnumbers")["period"]
    browser.get(f"{demo.url}/mbr?period={period}")
    wait_ready(browser)
    q = demo.api("/metrics/quarterly", period=period, metric="employees")["metrics"][0]
    cells = browser.find_elements(By.CSS_SELECTOR, 'tr[data-metric="employees"] td')
    assert [c.text.replace("\u270e", "").strip() for c in cells[:3]] == [
        expected_text(p["value"], "count") for p in q["monthly_values"]
    ]
    assert all("manual" in c.get_attribute("class") for c in cells[:3])  # marked as entered by hand
    screenshot(browser, "09-mbr")
    browser.get(demo.url + "/trends")
    wait_ready(browser)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".trend-grid .chart-ready")) == len(
        demo.api("/smartnumbers")["smartnumbers"]
    )
    screenshot(browser, "10-trends")
    browser.find_element(By.ID, "tab-inputs").click()  # a monthly chart per input
    wait_ready(browser)
    assert "view=inputs" in browser.current_url
    defs = {d["key"]: d for d in demo.api("/metrics/definitions", limit=1000)["definitions"]}
    month = demo.api("/periods", type="monthly")["latest_complete"]
    inputs = {
        m["key"]
        for m in demo.api("/metrics/monthly", period=month)["metrics"]
        if not defs[m["key"]]["is_smartnumber"]
    }
    charted = {
        c.get_attribute("data-key")
        for c in browser.find_elements(By.CSS_SELECTOR, ".trend-grid .chart-ready")
    }
    assert charted == inputs
    screenshot(browser, "10b-trends-inputs")
    browser.get(demo.url + "/clients")
    wait_ready(browser)
    assert (
        len(browser.find_elements(By.CSS_SELECTOR, "#clients-table tbody tr"))
        == demo.api("/clients", limit=1000)["total"]
    )
    screenshot(browser, "11-clients")


# ---------------------------------------------------------------- keys and sessions


def key_rows(driver) -> dict[str, dict]:
    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#keys-table tbody tr"):
        out[row.get_attribute("data-name")] = {
            "id": row.get_attribute("data-key-id"),
            "status": row.get_attribute("data-status"),
            "text": row.text,
            "revoke": row.find_elements(By.CSS_SELECTOR, "button.revoke"),
        }
    return out


def test_api_keys_created_used_and_revoked_in_settings(demo, browser):
    """Settings -> API keys: the list matches the database; a key made in the form is
    shown once, works against the API with its scope, and stops working once revoked."""
    name = "Power BI (browser test)"
    signin(browser, demo, demo.admin_key, "/settings#api-keys")
    assert browser.current_url.endswith("/settings#api-keys")
    # the deep link lands on the section (the page renders after load: the script scrolls
    # there); at 1400 x 1000 it is far below the first screen
    section = browser.find_element(By.ID, "api-keys")
    assert wait_for(
        lambda: browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); "
            "return window.scrollY > 500 && r.top >= 0 && r.top < window.innerHeight - 100",
            section,
        )
    )
    assert browser.switch_to.active_element.get_attribute("id") == "api-keys"
    rows = wait_for(lambda: key_rows(browser))
    stored = dict(demo.sql("select name, revoked_at is not null from qbr_app.api_keys"))
    assert {n: r["status"] == "revoked" for n, r in rows.items()} == stored
    me = rows["demo-admin"]  # the key this browser signed in with: no revoke button
    assert me["revoke"] == [] and "You are signed in with this key" in me["text"]
    assert "Revoke" in rows["dash-reader"]["revoke"][0].text

    # create with the keyboard only: type the name, choose the scope, Enter submits
    field = browser.find_element(By.ID, "key-name")
    field.send_keys(name)
    Select(browser.find_element(By.ID, "key-scope")).select_by_value("read")
    field.send_keys(Keys.ENTER)
    box = wait_for(
        lambda: (
            browser.find_element(By.ID, "key-secret-box").is_displayed()
            and (browser.find_element(By.ID, "key-secret-box"))
        )
    )
    assert "you will not see this again" in box.text.lower()
    secret = browser.find_element(By.ID, "key-secret").get_attribute("value")
    # the secret is focused and selected, ready to copy
    assert browser.switch_to.active_element.get_attribute("id") == "key-secret"
    (row_hash,) = demo.sql("select key_hash from qbr_app.api_keys where name = %s", (name,))[0]
    assert hashlib.sha256(secret.encode()).hexdigest() == row_hash
    browser.find_element(By.ID, "key-copy").click()
    assert wait_for(lambda: browser.find_element(By.ID, "key-copy-status").text)
    new = wait_for(lambda: key_rows(browser).get(name))
    assert new["status"] == "active" and "\u2714 Active" in new["text"]
    assert f"qbr_{secret.split('_')[1]}_\u2026" in new["text"] and "never" in new["text"]
    screenshot(browser, "13-settings-new-key", reload=False)

    # the shown secret is a working read key
    def call(method: str, path: str) -> int:
        r = requests.request(
            method, f"{demo.url}/api/qbr{path}", headers={"X-API-Key": secret}, timeout=30
        )
        return r.status_code

    assert call("GET", "/periods") == 200
    assert call("GET", "/keys") == 403  # read scope: the keys are for admins

    # shown once: after a reload it is nowhere on the page, and the list says it was used
    browser.refresh()
    wait_ready(browser)
    assert secret not in browser.page_source
    assert not browser.find_element(By.ID, "key-secret-box").is_displayed()
    new = wait_for(lambda: key_rows(browser).get(name))
    assert "never" not in new["text"]

    # revoke: a confirmation first (Escape cancels, nothing changes) ...
    wait_for(lambda: key_rows(browser)[name]["revoke"])[0].click()
    dialog = wait_for(lambda: browser.find_element(By.ID, "revoke-dialog"))
    assert dialog.is_displayed() and name in dialog.text
    assert browser.switch_to.active_element.get_attribute("id") == "revoke-cancel"
    screenshot(browser, "14-settings-revoke-confirm", reload=False)
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(lambda: not browser.find_element(By.ID, "revoke-dialog").is_displayed())
    assert demo.sql("select revoked_at from qbr_app.api_keys where name = %s", (name,)) == [(None,)]
    assert call("GET", "/periods") == 200
    # ... then confirmed
    key_rows(browser)[name]["revoke"][0].click()
    wait_for(lambda: browser.find_element(By.ID, "revoke-confirm").is_displayed())
    browser.find_element(By.ID, "revoke-confirm").click()
    revoked = wait_for(
        lambda: key_rows(browser)[name]["status"] == "revoked" and (key_rows(browser)[name])
    )
    assert "\u2716 Revoked" in revoked["text"] and revoked["revoke"] == []
    assert demo.sql(
        "select revoked_at is not null from qbr_app.api_keys where name = %s", (name,)
    ) == [(True,)]
    assert call("GET", "/periods") == 401
    screenshot(browser, "15-settings-api-keys")


def test_read_only_key_sees_everything_and_cannot_write(demo, browser):
    signin(browser, demo, demo.read_key)
    assert "read only" in browser.find_element(By.ID, "scope-badge").text
    assert len(tiles(browser)) == len(demo.api("/smartnumbers")["smartnumbers"])
    browser.get(demo.url + "/settings")
    wait_ready(browser)
    assert browser.find_elements(By.ID, "refresh-start") == []
    assert browser.find_elements(By.ID, "threshold-form") == []
    assert browser.find_elements(By.ID, "manual-form") == []
    assert browser.find_elements(By.ID, "api-keys") == []  # the keys list is for admins
    browser.get(demo.url + "/mbr")
    wait_ready(browser)
    assert browser.find_elements(By.CSS_SELECTOR, "td.editable") == []
    # and the API refuses a write from this session, CSRF token and all
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = document.cookie.match(/qbr_csrf=([^;]+)/)[1];
        fetch("/api/qbr/metrics/manual", {method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf)},
          body: JSON.stringify({period: "2026-01", metrics: [{metric: "employees", value: 3}]})})
          .then(r => r.json().then(b => done([r.status, b.error_code])));
        """
    )
    assert status == [403, "FORBIDDEN"]
    screenshot(browser, "12-read-only-mbr")


def test_sign_out_ends_the_session(demo, browser):
    signin(browser, demo, demo.admin_key)
    token = session_cookies(browser)["qbr_session"]
    browser.find_element(By.ID, "signout").click()
    msg = wait_for(lambda: browser.find_element(By.ID, "signin-message").text)
    assert "signed out" in msg.lower()
    r = requests.get(f"{demo.url}/api/qbr/session", cookies={"qbr_session": token}, timeout=10)
    assert r.status_code == 401  # the old cookie no longer opens anything
    browser.get(demo.url + "/mbr")
    assert "/signin" in browser.current_url


def test_expired_session_returns_to_sign_in_with_a_message(demo, browser):
    signin(browser, demo, demo.admin_key)
    # a page already open: its next API call meets the expired session
    demo.sql(
        "update qbr_app.api_sessions set created_at = now() - interval '1 hour', expires_at = now() - interval '1 second'"
    )
    Select(browser.find_element(By.ID, "quarter-picker")).select_by_index(3)
    msg = wait_for(lambda: browser.find_element(By.ID, "signin-message").text)
    assert "expired" in msg
    assert "/signin" in browser.current_url and "{" not in browser.page_source[:200]
    # a script's own API call (no navigation) meeting the expiry: also the sign-in page
    signin(browser, demo, demo.admin_key, "/settings")
    wait_for(lambda: browser.find_element(By.ID, "th-preview-count"))  # its loading is over
    demo.sql(
        "update qbr_app.api_sessions set created_at = now() - interval '1 hour', "
        "expires_at = now() - interval '1 second'"
    )
    Select(browser.find_element(By.ID, "th-metric")).select_by_value("rhem")  # GET /thresholds/rhem
    msg = wait_for(lambda: browser.find_element(By.ID, "signin-message").text)
    assert "expired" in msg and "next=%2Fsettings" in browser.current_url
    # a fresh navigation with the expired cookie: the sign-in page too, never JSON
    signin(browser, demo, demo.admin_key)
    demo.sql(
        "update qbr_app.api_sessions set created_at = now() - interval '1 hour', expires_at = now() - interval '1 second'"
    )
    browser.get(demo.url + "/trends")
    assert "/signin" in browser.current_url and "expired=1" in browser.current_url
    assert "expired" in browser.find_element(By.ID, "signin-message").text
    # signing in again goes back to the page asked for
    browser.find_element(By.ID, "api-key").send_keys(demo.admin_key + Keys.ENTER)
    wait_ready(browser)
    assert browser.current_url.endswith("/trends")
