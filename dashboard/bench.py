"""`make bench` (dashboard): sign-in -> rendered scorecard, trends page, bytes per page.

Runs `qbr demo` on a throwaway database (preset `--preset`, default
`small`; the issue's figures are for `large`, which takes a long refresh
first) and drives headless Chromium (/usr/bin/chromium + chromedriver) over
it. Prints figures only; the targets (scorecard < 1 s after sign-in, trends <
1.5 s, first page < 500 kB compressed) are printed beside them, not asserted.

Bytes are the browser's own count (`transferSize` of the navigation and every
resource: compressed bodies plus headers), with an empty cache.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import psycopg

from qbr import db
from qbr.demo import launch
from qbr.settings import get_settings

BYTES_JS = """
const nav = performance.getEntriesByType('navigation').map(e => e.transferSize);
const res = performance.getEntriesByType('resource').map(e => e.transferSize);
return [...nav, ...res].reduce((a, b) => a + b, 0);
"""


def _free_port(n: int = 1) -> int:
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--preset", default=os.environ.get("QBR_BENCH_PRESET", "small"))
    parser.add_argument("--runs", type=int, default=3, help="timed sign-ins (fresh browser each)")
    args = parser.parse_args(argv)

    base = get_settings()
    db.ensure_server(base)
    name = f"qbr_dashbench_{secrets.token_hex(4)}"
    bench = base.model_copy(update={"db_name": name})
    if bench.database_url:
        bench = bench.model_copy(update={"database_url": bench.url_for(name)})
    db.ensure_database(bench, name)
    env = dict(os.environ)
    env.update(
        {
            "QBR_ENV_FILE": os.devnull,
            "QBR_HOME": str(bench.home),
            "QBR_PG_PORT": str(bench.pg_port),
            "QBR_DB_NAME": name,
            "QBR_API_PORT": str(_free_port()),
            "QBR_SANDBOX_PORT": str(_free_port(3)),
            "QBR_SANDBOX_PRESET": args.preset,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if bench.database_url:
        env["QBR_DATABASE_URL"] = bench.database_url
    print(
        f"dashboard bench: qbr demo on the {args.preset!r} preset (refresh first) ...", flush=True
    )
    run = launch(env)
    proc, url, key = run.proc, run.url, run.key
    try:
        if url is None or key is None:
            print("demo failed to start")
            return 1
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                requests.get(url + "/api/qbr/health", timeout=2)
                break
            time.sleep(0.2)
        figures: dict[str, list[float]] = {
            "scorecard": [],
            "trends": [],
            "kb_scorecard": [],
            "kb_trends": [],
        }
        for _ in range(args.runs):
            driver = _driver()
            try:
                driver.get(url + "/signin")
                field = driver.find_element("id", "api-key")
                field.send_keys(key)
                t0 = time.perf_counter()
                field.send_keys("\n")
                _ready(driver)
                figures["scorecard"].append(time.perf_counter() - t0)
                figures["kb_scorecard"].append(driver.execute_script(BYTES_JS) / 1024)
                t0 = time.perf_counter()
                driver.get(url + "/trends")
                _ready(driver)
                figures["trends"].append(time.perf_counter() - t0)
                figures["kb_trends"].append(driver.execute_script(BYTES_JS) / 1024)
            finally:
                driver.quit()

        def line(label: str, values: list[float], unit: str, target: str) -> None:
            best, worst = min(values), max(values)
            print(
                f"  {label:<38} best {best:8.2f} {unit}  worst {worst:8.2f} {unit}   (target {target})"
            )

        print(f"dashboard ({args.preset} preset, {args.runs} fresh browsers):")
        line("sign-in -> rendered scorecard", figures["scorecard"], "s ", "< 1 s")
        line("rendered trends page", figures["trends"], "s ", "< 1.5 s")
        line("scorecard transferred (compressed)", figures["kb_scorecard"], "kB", "< 500 kB")
        line("trends transferred (compressed)", figures["kb_trends"], "kB", "-")
        return 0
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        with contextlib.suppress(psycopg.Error):
            db.drop_database(base, name)


if __name__ == "__main__":
    sys.exit(main())
