"""`qbr demo` end to end: the two printed lines, a real HTTP read, Ctrl-C, a second run.

The expected count is computed here straight from the synthetic MSP's
ticket records (parent tickets on Help Desk entered in the month, months
bounded in America/Chicago) — an independent route from pipeline + dbt.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import psutil
import pytest
import requests

from qbr.app.demo import launch

CHICAGO = ZoneInfo("America/Chicago")


def _free_port_block(n: int = 3) -> int:
    """A base port with n consecutive free ports (sandbox: ConnectWise, QBO, NinjaOne)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


def expected_reactive_created(msp, period: str) -> int:
    count = 0
    for t in msp.cw_tickets:
        if t.get("parentTicketId") or t["board"]["name"] != "Help Desk":
            continue
        entered = datetime.fromisoformat(t["_info"]["dateEntered"].replace("Z", "+00:00"))
        if entered.astimezone(CHICAGO).strftime("%Y-%m") == period:
            count += 1
    return count


def demo_env(settings_env: dict[str, str], demo_settings) -> dict[str, str]:
    """`qbr demo`'s environment for a test: its own database and free ports, the small
    preset with seed 42 (also used by the dashboard's browser tests)."""
    return {
        **settings_env,
        "QBR_DB_NAME": str(demo_settings.db_parts()["dbname"]),
        "QBR_API_PORT": str(_free_port_block(1)),
        "QBR_SANDBOX_PORT": str(_free_port_block(3)),
        "QBR_SANDBOX_PRESET": "small",
        "QBR_SANDBOX_SEED": "42",
        "PYTHONUNBUFFERED": "1",
    }


def _start_demo(env: dict[str, str]) -> tuple[subprocess.Popen, str, str, list[str]]:
    run = launch(env)
    if run.url is None or run.key is None:
        run.proc.kill()
        pytest.fail("demo did not print both lines:\n" + "\n".join(run.lines[-60:]))
    return run.proc, run.url, run.key, run.lines


def _wait_http(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/api/qbr/health", timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # gunicorn's workers booting
            time.sleep(0.2)
    pytest.fail(f"API at {url} never answered")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("demo did not stop on Ctrl-C")


@pytest.mark.slow
def test_demo_prints_lines_serves_the_count_and_runs_twice(make_database, settings_env):
    from sandbox.msp import generate

    demo_settings = make_database("qbr_demo_test")
    env = demo_env(settings_env, demo_settings)
    api_port = int(env["QBR_API_PORT"])
    msp = generate("small", 42)
    # a past, complete month with tickets in it
    period = sorted({t["_info"]["dateEntered"][:7] for t in msp.cw_tickets})[-3]
    expected = expected_reactive_created(msp, period)
    assert expected > 0

    for attempt in (1, 2):  # the second run reuses the data and still works
        proc, url, key, lines = _start_demo(env)
        try:
            assert url == f"http://127.0.0.1:{api_port}"
            _wait_http(url)
            # issue 12: gunicorn, live progress, one aligned summary, no noise
            health = requests.get(f"{url}/api/qbr/health", timeout=10)
            assert health.headers["Server"] == "gunicorn"
            assert health.json()["status"] == "ok", health.json()
            text = "\n".join(lines)
            for noise in ("Warning", "WARNING", "{'", "development server", "Traceback"):
                assert noise not in text, (noise, lines)
            assert not [x for x in lines if re.search(r"dbt \d+/\d+ ", x)], lines
            start = lines.index(next(x for x in lines if x.startswith("QBR demo is running")))
            block = lines[start + 1 : lines.index("", start + 1)]
            labels = ["dashboard", "API", "API key", "data", "logs", "stop"]
            assert [x[:13].strip() for x in block] == labels, block  # values aligned at 13
            assert all(x[13] != " " and x[11:13] == "  " for x in block), block
            assert block[0] == f"  dashboard  {url}/"
            assert block[2].startswith(f"  API key    {key}  ")
            res = requests.get(
                f"{url}/api/qbr/metrics/monthly",
                params={"period": period},
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert res.status_code == 200, res.text
            body = res.json()
            assert body["period"] == period and body["organization_id"] == 1
            values = {m["key"]: m["value"] for m in body["metrics"]}
            assert values["reactive_tickets_created"] == expected, (attempt, lines[-20:])
            no_key = requests.get(f"{url}/api/qbr/metrics/monthly", timeout=10)
            assert no_key.status_code == 401
        finally:
            _stop(proc)
        assert proc.returncode == 0
        state = demo_settings.home / "sandbox.json"
        assert not state.exists(), "sandbox state left behind after Ctrl-C"
        leftovers = [
            p.info["pid"]
            for p in psutil.process_iter(["pid", "cmdline"])
            if p.info["cmdline"]
            and "sandbox.servers.runner" in " ".join(p.info["cmdline"])
            and f"--port {env['QBR_SANDBOX_PORT']}" in " ".join(p.info["cmdline"])
        ]
        assert leftovers == []
        servers = [
            p.info["pid"]
            for p in psutil.process_iter(["pid", "cmdline"])
            if p.info["cmdline"]
            and "gunicorn" in " ".join(p.info["cmdline"])
            and f"127.0.0.1:{api_port}" in " ".join(p.info["cmdline"])
        ]
        assert servers == [], "gunicorn left running after Ctrl-C"
