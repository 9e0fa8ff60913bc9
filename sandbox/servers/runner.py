"""Run the three imitation servers over one synthetic MSP.

In-process (tests)::

    with Sandbox(generate("small")) as sb:
        requests.get(sb.urls["connectwise"] + "service/tickets", ...)
        sb.fault("connectwise", "rate_limit", count=2, retry_after=1)
        sb.advance(7)

As a process (the CLI's `qbr sandbox up`)::

    python -m sandbox.servers.runner --preset small --seed 42 --port 18761 \\
        --state-file .qbr/sandbox/sandbox.json

The process writes the state file (pid, urls, credentials) only once every
server listens, and removes it when it stops (SIGTERM / SIGINT).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from sandbox.msp import RECORD_LISTS
from sandbox.servers import SERVERS
from sandbox.servers.common import SharedState
from sandbox.servers.faults import Faults
from sandbox.servers.tokens import AccessTokens, RotatingTokens

SOURCES = tuple(SERVERS)  # port order: base, base+1, base+2
log = logging.getLogger("sandbox.servers")


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the `sandbox.servers` logger at DEBUG, not to stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s %s", self.command, self.path, code)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug(format, *args)


def default_credentials() -> dict[str, dict[str, str]]:
    """The fixed credentials every sandbox accepts (safe to write into demo config)."""
    return {name: server.credentials() for name, server in SERVERS.items()}


class Sandbox:
    """ConnectWise (base port), QuickBooks (base+1) and NinjaOne (base+2) over one MSP.

    `base_port=0` picks free ports. `access_token_lifetime` (seconds) applies to
    QuickBooks and NinjaOne access tokens. `token_file` keeps the newest QuickBooks
    refresh token across restarts. `hide_inactive` makes QuickBooks queries for
    Account/Customer/Item skip inactive rows unless `Active` is in the WHERE, as
    the real service does.
    """

    def __init__(
        self,
        msp: Any,
        host: str = "127.0.0.1",
        base_port: int = 0,
        *,
        access_token_lifetime: float = 3600,
        token_file: Path | None = None,
        hide_inactive: bool = True,
        token_grace: float = 0.0,
    ) -> None:
        self.msp = msp
        self.host = host
        self.base_port = base_port
        self.state = SharedState(msp)
        for source in SOURCES:
            self.state.faults[source] = Faults()
        self.credentials = default_credentials()
        #: the token store: QuickBooks' rotating refresh tokens, NinjaOne's access tokens
        self.qbo_tokens = RotatingTokens(
            self.credentials["quickbooks"]["refresh_token"],
            access_token_lifetime,
            token_file,
            grace_seconds=token_grace,
        )
        self.ninja_tokens = AccessTokens(access_token_lifetime)
        options: dict[str, dict[str, Any]] = {
            "quickbooks": {"tokens": self.qbo_tokens, "hide_inactive": hide_inactive},
            "ninjaone": {"tokens": self.ninja_tokens},
        }
        self.apps = {
            name: server.create_app(
                self.state, self.credentials[name], self, **options.get(name, {})
            )
            for name, server in SERVERS.items()
        }
        self._servers: dict[str, Any] = {}
        self._threads: dict[str, threading.Thread] = {}
        self.started_at: dt.datetime | None = None
        self.advanced_days = 0.0

    # --- lifecycle -----------------------------------------------------------
    def start(self) -> Sandbox:
        if self._servers:
            return self
        self.state.stopping.clear()
        try:
            for offset, source in enumerate(SOURCES):
                port = self.base_port + offset if self.base_port else 0
                try:
                    server = make_server(
                        self.host,
                        port,
                        self.apps[source],
                        threaded=True,
                        request_handler=_QuietHandler,
                    )
                except SystemExit:  # werkzeug exits when the port is taken
                    raise OSError(f"cannot listen on {self.host}:{port} for {source}") from None
                # Do not wait for open client connections (or slow faults) on stop.
                server.block_on_close = False
                self._servers[source] = server
        except BaseException:
            for server in self._servers.values():
                server.server_close()
            self._servers.clear()
            raise
        for source, server in self._servers.items():
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"sandbox-{source}",
                daemon=True,
            )
            thread.start()
            self._threads[source] = thread
        self.started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        for server in self._servers.values():
            server.shutdown()
        for thread in self._threads.values():
            thread.join(timeout=5)
        for server in self._servers.values():
            server.server_close()
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------
    @property
    def ports(self) -> dict[str, int]:
        return {source: server.port for source, server in self._servers.items()}

    def root(self, source: str) -> str:
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.ports[source]}/"

    @property
    def urls(self) -> dict[str, str]:
        if not self._servers:
            raise RuntimeError("the sandbox is not started")
        urls: dict[str, str] = {}
        for name, server in SERVERS.items():
            urls.update(server.urls(self.root(name), self.credentials[name]))
        return urls

    @property
    def control_urls(self) -> dict[str, str]:
        return {source: self.root(source) + "_sandbox/" for source in self._servers}

    # --- steering ------------------------------------------------------------
    def advance(self, days: float) -> Any:
        """Move the MSP's clock: new, changed and deleted records, visible at once."""
        result = self.state.advance(days)
        self.advanced_days += days
        return result

    def faults(self, source: str) -> Faults:
        if source not in self.state.faults:
            raise KeyError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
        return self.state.faults[source]

    def fault(self, source: str, kind: str, **opts: Any) -> dict:
        return self.faults(source).set(kind, **opts)

    def clear_faults(self, source: str | None = None, kind: str | None = None) -> None:
        for name in [source] if source else SOURCES:
            self.faults(name).clear(kind)

    def status(self) -> dict:
        with self.state.lock:
            msp = self.msp
            counts = {name: len(getattr(msp, name, None) or []) for name in RECORD_LISTS}
            now = self.state.now()
            notes = {k: dict(v) for k, v in self.state.notes.items()}
            requests_seen = dict(self.state.requests)
        return {
            "running": bool(self._servers),
            "preset": getattr(msp, "preset", None),
            "seed": getattr(msp, "seed", None),
            "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "advanced_days": self.advanced_days,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "counts": counts,
            "sources": {
                source: {
                    "url": self.urls[source] if self._servers else None,
                    "faults": self.state.faults[source].active(),
                    "requests": requests_seen.get(source, 0),
                    "notes": notes.get(source, {}),
                }
                for source in SOURCES
            },
        }

    def describe(self) -> dict:
        """What a client needs: urls and credentials (the state file's content)."""
        return {
            "pid": os.getpid(),
            "urls": self.urls,
            "control": self.control_urls,
            "credentials": self.credentials,
            "preset": getattr(self.msp, "preset", None),
            "seed": getattr(self.msp, "seed", None),
            "host": self.host,
            "ports": self.ports,
            "started_at": self.started_at.isoformat() if self.started_at else None,
        }


def write_state_file(path: Path, payload: dict) -> None:
    """Atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--today", help="sandbox date YYYY-MM-DD (default: real today)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="base port (0 = free ports)")
    parser.add_argument("--state-file", type=Path)
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument(
        "--token-grace",
        type=float,
        default=0.0,
        help="seconds a rotated QuickBooks refresh token stays valid (0 = strict provider)",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, logging.root.level))

    if args.preset == "tiny":  # the hand-made MSP of the server tests: instant start
        from sandbox.servers.testing import TinyMSP

        msp: Any = TinyMSP()
    else:
        from sandbox.msp import generate

        today = dt.date.fromisoformat(args.today) if args.today else None
        msp = generate(preset=args.preset, seed=args.seed, today=today)
    token_file = args.state_file.with_name("qbo_tokens.json") if args.state_file else None
    sandbox = Sandbox(
        msp,
        host=args.host,
        base_port=args.port,
        access_token_lifetime=args.token_lifetime,
        token_file=token_file,
        token_grace=args.token_grace,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sandbox.start()
    try:
        description = sandbox.describe()
        if args.state_file:
            write_state_file(args.state_file, description)
        else:
            print(json.dumps(description, indent=2), flush=True)
        log.warning("sandbox listening: %s", description["urls"])
        while not stop.wait(1):
            pass
    finally:
        sandbox.stop()
        if args.state_file and args.state_file.exists():
            try:
                if json.loads(args.state_file.read_text()).get("pid") == os.getpid():
                    args.state_file.unlink()
            except (OSError, ValueError):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
