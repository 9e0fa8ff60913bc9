"""What every benchmark shares: free ports, a throwaway home and database, child
processes started with the right environment and stopped cleanly, waiting for
a server, peak memory of process trees, and the machine's cores and load.

One copy of each, so the benchmarks differ only in what they measure.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg

from qbr import db
from qbr.settings import PROJECT_ROOT, Settings, get_settings


# --- ports -----------------------------------------------------------------------------------
def free_port(consecutive: int = 1) -> int:
    """A free loopback port (the first of `consecutive` free ones: the sandbox needs 3)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        try:
            for port in range(base, base + consecutive):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port")


# --- machine ---------------------------------------------------------------------------------
def machine() -> dict:
    """Core count and load average now (a benchmark on a shared machine is read with them)."""
    one, five, fifteen = os.getloadavg()
    return {
        "cores": os.cpu_count() or 1,
        "load_avg": {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)},
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --- the bench's own home and database ----------------------------------------------------------
@dataclass
class Workspace:
    """A throwaway database on the configured server and a home of its own
    (sandbox state, dlt state, logs), so a bench never touches the demo's data,
    sandbox or refresh lock. `env` is what child processes run with."""

    base: Settings
    settings: Settings
    env: dict[str, str]
    home: Path
    dbname: str
    preset: str
    ports: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def workspace(prefix: str = "qbr_bench", preset: str = "demo") -> Iterator[Workspace]:
    base = get_settings()
    db.ensure_server(base)
    token = secrets.token_hex(4)
    dbname = f"{prefix}_{token}"
    home = Path(base.home) / "bench" / token
    home.mkdir(parents=True, exist_ok=True)
    url = base.url_for(dbname)
    ports = {"api": free_port(), "sandbox": free_port(3)}
    settings = base.model_copy(
        update={
            "home": home,
            "database_url": url,
            "db_name": dbname,
            "sandbox_preset": preset,
            "sandbox_port": ports["sandbox"],
            "api_port": ports["api"],
        }
    )
    env = dict(os.environ)
    env.update(
        {
            "QBR_ENV_FILE": os.devnull,
            "QBR_HOME": str(home),
            "QBR_DATABASE_URL": url,
            "QBR_DB_NAME": dbname,
            "QBR_API_PORT": str(ports["api"]),
            "QBR_SANDBOX_PORT": str(ports["sandbox"]),
            "QBR_SANDBOX_PRESET": preset,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "RUNTIME__DLTHUB_TELEMETRY": "false",
        }
    )
    db.ensure_database(settings, dbname)
    try:
        yield Workspace(base, settings, env, home, dbname, preset, ports)
    finally:
        with contextlib.suppress(psycopg.Error):
            db.drop_database(base, dbname)
        shutil.rmtree(home, ignore_errors=True)


# --- peak memory ---------------------------------------------------------------------------------
def peak_rss_mb(pid: int) -> float | None:
    """The kernel's high-water mark of a live process's resident set (VmHWM), MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    try:  # no /proc (not Linux): the current RSS is the best we have
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return None


class PeakWatcher:
    """Samples a process tree every `every` seconds and keeps, per label, the
    largest VmHWM of any process so labelled (`label(proc)` -> name or None to
    skip). VmHWM is the process's own peak, so a sample late in its life
    misses nothing but the growth of its last `every` seconds."""

    def __init__(self, root_pid: int, label: Callable[[psutil.Process], str | None], every=0.2):
        self.root_pid = root_pid
        self.label = label
        self.every = every
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for proc in procs:
            try:
                name = self.label(proc)
            except psutil.Error:
                continue
            if name is None:
                continue
            peak = peak_rss_mb(proc.pid)
            if peak is not None:
                self.peaks[name] = max(self.peaks.get(name, 0.0), round(peak, 1))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)


def refresh_or_dbt(proc: psutil.Process) -> str | None:
    """Label for a refresh's process tree: 'dbt' for the dbt subprocess, 'refresh'
    for the Python process running the refresh (and anything else it starts)."""
    cmd = proc.cmdline()
    # `.venv/bin/dbt build ...` runs as `python .venv/bin/dbt build ...`; a refresh runs
    # dbt as `python -P .../qbr/app/refresh/dbt_child.py`
    is_dbt = any(Path(arg).name in ("dbt", "dbt_child.py") for arg in cmd[:3])
    is_dbt = is_dbt or "dbt.cli.main" in cmd
    return "dbt" if is_dbt else "refresh"


def whole_tree(name: str) -> Callable[[psutil.Process], str]:
    """Label every process of a tree `name` (the largest peak is kept)."""
    return lambda proc: name


# --- child processes --------------------------------------------------------------------------
@dataclass
class Finished:
    returncode: int
    seconds: float
    peaks_mb: dict[str, float]
    output: str


def run_child(
    args: list[str],
    env: dict[str, str],
    label: Callable[[psutil.Process], str | None],
    timeout_s: float = 7200,
) -> Finished:
    """Run `args` to the end (output kept, not shown), timing it and sampling the
    peak memory of it and its children."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.extend(proc.stdout), daemon=True)
    reader.start()
    with PeakWatcher(proc.pid, label) as watcher:
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop(proc)
            rc = -1
    reader.join(timeout=5)
    return Finished(rc, time.perf_counter() - started, watcher.peaks, "".join(chunks))


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Ask a child to stop, then kill it if it does not within `timeout`."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def wait_http(port: int, path: str, proc: subprocess.Popen | None = None, timeout=60.0) -> None:
    """Until GET `path` on loopback `port` answers (any status below 600)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited early")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f} s")
