"""`make demo`: database, sandbox, inventory, a full refresh, an admin key, then serve.

Prints one line per stage with live refresh progress, then one short aligned
summary (URLs, key, where the data lives, how to stop) ending with the two
machine-readable lines `QBR_API_URL=...` and `QBR_API_KEY=...`, and serves
under gunicorn in the foreground. Ctrl-C stops the API and the sandbox and
keeps the data, so a second run reuses it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from qbr import apikeys, db, sources
from qbr.settings import PROJECT_ROOT, Settings
from qbr.sources import sandbox_state

DEMO_KEY_NAME = "demo-admin"


@dataclass
class Launched:
    """`qbr demo` running as a child process (benchmarks, tests)."""

    proc: subprocess.Popen
    url: str | None = None
    key: str | None = None
    lines: list[str] = field(default_factory=list)  # printed up to the key line


def launch(env: dict[str, str], timeout_s: float = 600) -> Launched:
    """Start `qbr demo` with `env`, read its output until the two machine-readable
    lines, then keep draining it in a thread: a full pipe would block the server's
    logging, and with it every request. `url`/`key` stay None if it ended first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbr.app.cli", "demo"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    run = Launched(proc)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (run.url is None or run.key is None):
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        run.lines.append(line.rstrip())
        if line.startswith("QBR_API_URL="):
            run.url = line.strip().split("=", 1)[1]
        elif line.startswith("QBR_API_KEY="):
            run.key = line.strip().split("=", 1)[1]
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return run


def _say(label: str, text: str) -> None:
    print(f"{label:<10} {text}", flush=True)


def _write_inventory(settings: Settings) -> None:
    from qbr import inventory
    from sandbox.msp import generate_inventory

    # The devices alone (the sandbox process plans the whole company for itself): the
    # same snapshots as generate(...) for a small part of the memory (~0.8 GB at large).
    devices = generate_inventory(settings.sandbox_preset, settings.sandbox_seed)
    counts = inventory.write_inventory(settings.url, settings.inventory_schema, devices)
    written = counts.get("device_snapshot_rows_written", 0)
    identities = (counts.get("tables") or {}).get("device_identity")
    what = f"{written:,} device snapshot rows written"
    if identities is not None:
        what += f" ({identities:,} devices)"
    _say("inventory", f"{what} into schema {settings.inventory_schema}")


def summary(settings: Settings, key: str, refresh_status: str | None) -> list[str]:
    """The aligned block printed once the API is about to serve."""
    base = f"http://{settings.api_host}:{settings.api_port}"
    where = (
        f"{settings.home} (embedded PostgreSQL on 127.0.0.1:{settings.pg_port}, "
        f"database {settings.db_name})"
        if settings.embedded
        else f"{settings.home} (database: QBR_DATABASE_URL)"
    )
    rows = [
        ("dashboard", f"{base}/"),
        ("API", f"{base}/api/qbr/  (health: {base}/api/qbr/health)"),
        ("API key", f"{key}  (admin; header X-API-Key)"),
        ("data", where),
        ("logs", f"{settings.home / 'logs'}  (qbr runs: the refresh log)"),
        ("stop", "Ctrl-C: stops the API and the sandbox, keeps the data"),
    ]
    if refresh_status and refresh_status != "succeeded":
        rows.insert(0, ("refresh", f"{refresh_status}: `qbr runs` says why"))
    width = max(len(label) for label, _ in rows)
    lines = ["", "QBR demo is running"]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    lines += ["", f"QBR_API_URL={base}", f"QBR_API_KEY={key}"]
    return lines


def _enter_manual_history(settings: Settings) -> None:
    """Headcount, sales activity and cash, as an MSP types them in each month."""
    from qbr.app.demo_inputs import enter_manual_history
    from sandbox.msp import PRESETS

    preset = PRESETS[settings.sandbox_preset]
    written = enter_manual_history(settings, preset.technicians, preset.clients)
    _say("manual inputs", f"{written} monthly entries added (employees, dials, cash, ...)")


def run(settings: Settings, skip_refresh: bool = False) -> int:
    from sandbox import cli as sandbox_cli

    started = time.monotonic()
    db.prepare(settings)
    _say("database", f"ready ({db._redacted(settings.url)})")
    state = sandbox_cli.up(
        preset=settings.sandbox_preset,
        seed=settings.sandbox_seed,
        host=settings.sandbox_host,
        base_port=settings.sandbox_port,
        state_dir=settings.home,
    )
    assert sandbox_state(settings) is not None
    ports = {}
    for source in sources.REGISTRY.values():  # the sources the sandbox imitates
        url = state["urls"].get(source.sandbox_server or "")
        if url:
            ports[source.label] = url.split("/")[2]
    _say("sandbox", ", ".join(f"{k} {v}" for k, v in ports.items()) or "up")
    status = None
    try:
        if not skip_refresh:
            _write_inventory(settings)
            from qbr.app.refresh import run_refresh

            status = run_refresh(settings, trigger="demo").status
        _enter_manual_history(settings)
        # A new admin key each run (the old one is revoked): it is shown only once.
        apikeys.revoke(settings, DEMO_KEY_NAME)
        key = apikeys.create(settings, DEMO_KEY_NAME, "admin")
        lines = summary(settings, key, status)
        lines[1] += f" (ready in {time.monotonic() - started:.0f}s)"
        print("\n".join(lines), flush=True)
        from qbr.app import serve

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve.run(settings, settings.api_host, settings.api_port, access_log=False)
    finally:
        sandbox_cli.down(settings.home)
        print(f"stopped: the API and the sandbox; data kept in {settings.home}", flush=True)
    return 0
