"""`make demo`: database, sandbox, inventory, a full refresh, an admin key, then serve.

Prints `QBR_API_URL=...` and `QBR_API_KEY=...` on lines of their own before
serving in the foreground; Ctrl-C stops the API and the sandbox and keeps the
data, so a second run reuses it.
"""

from __future__ import annotations

import signal
import sys

from qbr import apikeys, db
from qbr.settings import Settings
from qbr.sources import sandbox_state

DEMO_KEY_NAME = "demo-admin"


def _write_inventory(settings: Settings) -> None:
    from sandbox import inventory
    from sandbox.msp import generate

    msp = generate(settings.sandbox_preset, settings.sandbox_seed)
    counts = inventory.write_inventory(settings.url, settings.inventory_schema, msp)
    print(f"inventory: {counts}")


def _enter_manual_history(settings: Settings) -> None:
    """Headcount, sales activity and cash, as an MSP types them in each month."""
    from qbr.demo_inputs import enter_manual_history
    from sandbox.msp import PRESETS

    preset = PRESETS[settings.sandbox_preset]
    written = enter_manual_history(settings, preset.technicians, preset.clients)
    print(f"manual inputs: {written} monthly entries added (employees, dials, cash, ...)")


def run(settings: Settings, skip_refresh: bool = False) -> int:
    from sandbox import cli as sandbox_cli

    db.prepare(settings)
    print(f"database ready: {db._redacted(settings.url)}")
    state = sandbox_cli.up(
        preset=settings.sandbox_preset,
        seed=settings.sandbox_seed,
        host=settings.sandbox_host,
        base_port=settings.sandbox_port,
        state_dir=settings.home,
    )
    assert sandbox_state(settings) is not None
    print(f"sandbox up: {', '.join(state['urls'].values())}")
    try:
        if not skip_refresh:
            _write_inventory(settings)
            from qbr.refresh import run_refresh

            run_refresh(settings, trigger="demo")
        _enter_manual_history(settings)
        # A new admin key each run (the old one is revoked): it is shown only once.
        apikeys.revoke(settings, DEMO_KEY_NAME)
        key = apikeys.create(settings, DEMO_KEY_NAME, "admin")
        print(f"QBR_API_URL=http://{settings.api_host}:{settings.api_port}", flush=True)
        print(f"QBR_API_KEY={key}", flush=True)
        from api import serve

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve.run(settings, settings.api_host, settings.api_port)
    finally:
        sandbox_cli.down(settings.home)
        print("sandbox stopped; data kept in", settings.home)
    return 0
