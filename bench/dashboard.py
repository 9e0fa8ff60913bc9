"""Sign-in -> rendered scorecard, the trends page, and bytes per page, in
headless Chromium (/usr/bin/chromium + chromedriver, never downloaded) over a
running API + dashboard server. Bytes are the browser's own count
(`transferSize` of the navigation and every resource: compressed bodies plus
headers), with an empty cache; each run is a fresh browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from typing import Any

BYTES_JS = """
const nav = performance.getEntriesByType('navigation').map(e => e.transferSize);
const res = performance.getEntriesByType('resource').map(e => e.transferSize);
return [...nav, ...res].reduce((a, b) => a + b, 0);
"""


def available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def _ready(driver, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            state = driver.execute_script("return document.body && document.body.dataset.ready")
            if state == "1":
                return
            if state == "error":
                raise RuntimeError("page failed: " + driver.find_element("id", "main").text)
        time.sleep(0.02)
    raise RuntimeError(f"{driver.current_url} not ready in {timeout}s")


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=opts
    )


def measure(url: str, key: str, runs: int = 3) -> dict[str, Any]:
    """Best and worst of `runs` fresh browsers: seconds and kB per page."""
    if not available():
        return {"error": "chromium and chromedriver are not installed (make browser)"}
    figures: dict[str, list[float]] = {"scorecard_s": [], "trends_s": [], "scorecard_kb": [],
                                       "trends_kb": []}  # fmt: skip
    for _ in range(runs):
        driver = _driver()
        try:
            driver.get(url + "/signin")
            field = driver.find_element("id", "api-key")
            field.send_keys(key)
            t0 = time.perf_counter()
            field.send_keys("\n")
            _ready(driver)
            figures["scorecard_s"].append(time.perf_counter() - t0)
            figures["scorecard_kb"].append(driver.execute_script(BYTES_JS) / 1024)
            t0 = time.perf_counter()
            driver.get(url + "/trends")
            _ready(driver)
            figures["trends_s"].append(time.perf_counter() - t0)
            figures["trends_kb"].append(driver.execute_script(BYTES_JS) / 1024)
        finally:
            driver.quit()
    return {
        name: {"best": round(min(v), 3), "worst": round(max(v), 3)} for name, v in figures.items()
    } | {"runs": runs}
