"""Browser tests: headless Chromium (Debian's chromium + chromium-driver) over `qbr demo`.

The warehouse is the real one a newcomer gets: `qbr demo` on the `small`
preset (sandbox servers over HTTP, dlt loads, dbt build, the demo's manual
history) in a throwaway database, serving the API and the dashboard on a free
port. One demo per module; one browser per module. A missing browser or
driver is a failure, never a skip (`make test` installs them with apt as
root). Selenium is pointed at /usr/bin/chromedriver and never downloads one.

Screenshots of every screen at 1400 px and 390 px land in
`.qbr/screenshots/` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests

from qbr.settings import PROJECT_ROOT, Settings
from tests.app.test_demo import _start_demo, _stop, _wait_http, demo_env

SCREENSHOTS = PROJECT_ROOT / ".qbr" / "screenshots"
WIDTHS = (1400, 390)


def _binary(name: str, fallback: str) -> str:
    found = shutil.which(name) or (fallback if Path(fallback).exists() else None)
    if not found:
        pytest.fail(
            f"{name} is not installed: browser tests need Debian's chromium and chromium-driver "
            "(`apt-get install chromium chromium-driver`; `make test` does this when run as root)."
        )
    return found


@dataclass
class Demo:
    url: str
    admin_key: str
    read_key: str
    settings: Settings

    def api(self, path: str, **params) -> dict:
        r = requests.get(
            f"{self.url}/api/qbr{path}",
            params=params,
            headers={"X-API-Key": self.admin_key},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.settings.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def demo(make_database, settings_env) -> Iterator[Demo]:
    from qbr import apikeys

    demo_settings = make_database("qbr_dash")
    env = demo_env(settings_env, demo_settings)
    proc, url, key, _lines = _start_demo(env)  # its output keeps being drained
    try:
        _wait_http(url)
        read_key = apikeys.create(demo_settings, "dash-reader", "read")
        yield Demo(url, key, read_key, demo_settings)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = _binary("chromium", "/usr/bin/chromium")
    driver_path = _binary("chromedriver", "/usr/bin/chromedriver")
    os.environ["SE_OFFLINE"] = "true"  # selenium manager must not fetch anything
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WIDTHS[0]},1000",
        "--lang=en-US",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def wait_ready(driver, timeout: float = 60) -> None:
    """Until the page script says it rendered (body[data-ready]); an error fails."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        try:
            state = driver.execute_script("return document.body && document.body.dataset.ready")
        except Exception:  # navigation in progress
            state = None
        if state == "1":
            return
        if state == "error":
            pytest.fail("page failed to render: " + driver.find_element("id", "main").text)
        time.sleep(0.1)
    pytest.fail(f"page {driver.current_url} not ready after {timeout}s")


def wait_for(predicate, timeout: float = 30, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # element not there yet, stale after a re-render
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting ({timeout}s): {last!r}")


def screenshot(driver, name: str, ready: bool = True, reload: bool = True) -> list[Path]:
    """The current page at each width (reloaded, so charts size to it), full height.
    `reload=False` keeps the page's state (a secret shown once, an open dialog) and
    only resizes the window; the page is left at the first width, not reloaded."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width in WIDTHS:
        driver.set_window_size(width, 1000)
        if reload:
            driver.refresh()
        if ready and reload:
            wait_ready(driver)
        time.sleep(0.3)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(height, 600) + 120, 8000))
        path = SCREENSHOTS / f"{name}-{width}.png"
        driver.save_screenshot(str(path))
        saved.append(path)
    driver.set_window_size(WIDTHS[0], 1000)
    if reload:
        driver.refresh()
        if ready:
            wait_ready(driver)
    return saved
