"""Helpers behind `qbr sandbox up|down|advance|fault|clear|status`.

`up` starts the sandbox as a detached process (`python -m sandbox.servers.runner`)
and waits until it has written `state_dir/sandbox.json` (pid, urls, credentials,
preset, seed, started_at), which it does only once every server listens. The
other helpers read that file and talk to the `/_sandbox/` control API.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from qbr.errors import QbrError

STATE_FILE = "sandbox.json"
LOG_FILE = "sandbox.log"
DEFAULT_STATE_DIR = Path(".qbr") / "sandbox"
DEFAULT_BASE_PORT = 18761  # ConnectWise; QuickBooks +1, NinjaOne +2
RUNNER_MODULE = "sandbox.servers.runner"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# Starts the runner in its own session and exits at once, so the runner is nobody's
# child: it outlives the CLI, and nothing is left as a zombie once it stops.
_LAUNCHER = """
import subprocess, sys
with open(sys.argv[1], "ab") as log:
    child = subprocess.Popen(
        sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
child.returncode = 0  # detached on purpose: no "still running" warning
print(child.pid)
"""


class SandboxError(QbrError):
    """The sandbox could not be started, reached or stopped."""


def state_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _runner_process(pid: int | None) -> psutil.Process | None:
    """The process if `pid` is alive and is a sandbox runner (not a recycled pid)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if RUNNER_MODULE not in " ".join(proc.cmdline()):
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _control_url(state: dict[str, Any], source: str | None = None) -> str:
    control = state.get("control") or {}
    if source and source in control:
        return control[source]
    if control:
        return next(iter(control.values()))
    raise SandboxError("the sandbox state file has no control address")


def running(state_dir: Path) -> dict[str, Any] | None:
    """The state of a live sandbox, or None (a stale state file is removed)."""
    state = read_state(state_dir)
    if state is None:
        return None
    if _runner_process(state.get("pid")) is None:
        state_path(state_dir).unlink(missing_ok=True)
        return None
    return state


def up(
    preset: str = "small",
    seed: int = 42,
    host: str = "127.0.0.1",
    base_port: int = DEFAULT_BASE_PORT,
    state_dir: Path = DEFAULT_STATE_DIR,
    foreground: bool = False,
    *,
    today: str | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Start the sandbox (or return the one already running) and its state.

    With `foreground=True` the servers run in this process until SIGINT/SIGTERM.
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = running(state_dir)
    if existing is not None:
        existing["already_running"] = True
        return existing
    args = [
        "--preset",
        preset,
        "--seed",
        str(seed),
        "--host",
        host,
        "--port",
        str(base_port),
        "--state-file",
        str(state_path(state_dir).resolve()),
    ]
    if today:
        args += ["--today", str(today)]
    if foreground:
        from sandbox.servers.runner import main

        main(args)
        return {}

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    launched = subprocess.run(
        [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(state_dir / LOG_FILE),
            sys.executable,
            "-m",
            RUNNER_MODULE,
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=str(PROJECT_ROOT),
        env=env,
        timeout=60,
        check=False,
    )
    try:
        pid = int(launched.stdout.strip())
    except ValueError:
        raise SandboxError(f"could not launch the sandbox: {launched.stderr.strip()}") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state and state.get("pid") == pid:
            return state
        if not _alive(pid):
            raise SandboxError(f"the sandbox exited during start-up:\n{_log_tail(state_dir)}")
        time.sleep(0.1)
    _terminate(pid)
    raise SandboxError(f"the sandbox did not start within {timeout:.0f} s:\n{_log_tail(state_dir)}")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _log_tail(state_dir: Path, lines: int = 20) -> str:
    try:
        text = (Path(state_dir) / LOG_FILE).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_gone(pid: int, timeout: float) -> bool:
    """True once the process has exited (a zombie waiting for its reaper counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return not _alive(pid)


def _terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM (the runner stops its servers and removes its state file), then SIGKILL."""
    try:
        psutil.Process(pid).send_signal(signal.SIGTERM)
    except psutil.NoSuchProcess:
        return
    if _wait_gone(pid, timeout):
        return
    try:
        psutil.Process(pid).kill()
    except psutil.NoSuchProcess:
        return
    _wait_gone(pid, 5)


def down(state_dir: Path = DEFAULT_STATE_DIR, timeout: float = 10.0) -> bool:
    """Stop the sandbox; True when one was running. Leaves no process behind."""
    state = read_state(state_dir)
    if state is None:
        return False
    proc = _runner_process(state.get("pid"))
    if proc is not None:
        _terminate(proc.pid, timeout)
    state_path(state_dir).unlink(missing_ok=True)
    return proc is not None


def _call(
    state_dir: Path, method: str, endpoint: str, body: dict | None = None, source: str | None = None
) -> dict[str, Any]:
    state = running(state_dir)
    if state is None:
        raise SandboxError("the sandbox is not running (start it with `qbr sandbox up`)")
    url = _control_url(state, source) + endpoint
    try:
        response = requests.request(method, url, json=body, timeout=60)
    except requests.RequestException as exc:
        raise SandboxError(f"cannot reach the sandbox at {url}: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text}
    if response.status_code >= 400:
        raise SandboxError(f"sandbox refused {endpoint}: {payload.get('error', payload)}")
    return payload


def advance(state_dir: Path, days: float) -> dict[str, Any]:
    """Move the sandbox clock `days` forward (new, changed and deleted records)."""
    return _call(state_dir, "POST", "advance", {"days": days})


def fault(state_dir: Path, source: str, kind: str, **opts: Any) -> dict[str, Any]:
    """Switch a fault on for one source (see `sandbox.servers.faults`)."""
    return _call(state_dir, "POST", "fault", {"kind": kind, "source": source, **opts}, source)


def clear(state_dir: Path, source: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """Clear faults (all sources, or one; all kinds, or one)."""
    return _call(state_dir, "POST", "clear", {"source": source, "kind": kind}, source)


def status(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    """{"running": False} or the live status plus the state file's urls/credentials."""
    state = running(state_dir)
    if state is None:
        return {"running": False}
    live = _call(state_dir, "GET", "status")
    return {**live, "pid": state["pid"], "urls": state["urls"], "credentials": state["credentials"]}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> int:
    """`python -m sandbox.cli up|down|advance|fault|clear|status` (the `qbr` CLI wraps these)."""
    parser = argparse.ArgumentParser(prog="sandbox")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument("--preset", default="small")
    p_up.add_argument("--seed", type=int, default=42)
    p_up.add_argument("--host", default="127.0.0.1")
    p_up.add_argument("--port", type=int, default=DEFAULT_BASE_PORT)
    p_up.add_argument("--today")
    p_up.add_argument("--foreground", action="store_true")
    sub.add_parser("down")
    sub.add_parser("status")
    p_adv = sub.add_parser("advance")
    p_adv.add_argument("days", type=float)
    p_fault = sub.add_parser("fault")
    p_fault.add_argument("source", choices=["connectwise", "quickbooks", "ninjaone"])
    p_fault.add_argument("kind")
    p_fault.add_argument("options", nargs="*", help="key=value (e.g. count=3 retry_after=2)")
    p_clear = sub.add_parser("clear")
    p_clear.add_argument("source", nargs="?")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            result: Any = up(
                args.preset,
                args.seed,
                args.host,
                args.port,
                args.state_dir,
                args.foreground,
                today=args.today,
            )
        elif args.command == "down":
            result = {"stopped": down(args.state_dir)}
        elif args.command == "status":
            result = status(args.state_dir)
        elif args.command == "advance":
            result = advance(args.state_dir, args.days)
        elif args.command == "fault":
            opts = dict(o.split("=", 1) for o in args.options)
            result = fault(
                args.state_dir,
                args.source,
                args.kind,
                **{k: _parse_value(v) for k, v in opts.items()},
            )
        else:
            result = clear(args.state_dir, args.source)
    except QbrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
