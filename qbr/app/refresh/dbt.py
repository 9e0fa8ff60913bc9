"""The dbt build of a refresh: the command line, the child process and its output.

`build_args()` is the dbt command a refresh runs; `DbtBuild.run()` streams its
output, digested by `DbtOutcome` into progress and, on failure, a short error
(the first failing node, then dbt's summary).
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbr import dbt_runner
from qbr.settings import Settings

log = logging.getLogger("qbr.refresh")

#: The child process dbt runs in (a script: it imports no qbr module).
DBT_CHILD = Path(__file__).with_name("dbt_child.py")

#: "12 of 40 OK created sql table model qbr__build.periods ..... [SELECT 30 in 0.05s]"
DBT_RESULT_RE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|ERROR|FAIL|WARN|SKIP|NO-OP)\b\s*(.*)$")
DBT_DONE_RE = re.compile(r"\bDone\.\s+(PASS=.*)$")
DBT_TIMESTAMP_RE = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:\s+|$)")
DBT_FAILURE_PREFIXES = (
    "Failure in",
    "Error in",
    "Database Error",
    "Compilation Error",
    "Runtime Error",
    "Parsing Error",
    "Encountered an error",
)


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """In the dbt child: receive SIGTERM when the refresh process dies, even by SIGKILL,
    so a killed refresh never leaves a dbt build running behind it (Linux; elsewhere a
    no-op, and the next refresh waits for the orphan's locks before dropping qbr__build)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except Exception:
            pass


@dataclass
class DbtOutcome:
    """What a `dbt build` printed, digested as it streams."""

    returncode: int = -1
    total: int = 0
    done: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    totals: str | None = None
    summary: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    last: tuple[str, str] = ("", "")
    _in_summary: bool = False

    def feed(self, line: str) -> str | None:
        """Take one output line; returns a progress line when a node finished."""
        self.tail = [*self.tail[-59:], line]
        if line.startswith("Completed with"):
            self._in_summary = True
        done = DBT_DONE_RE.search(line)
        if done:
            self._in_summary = False
            self.totals = done.group(1).strip()
            return None
        if self._in_summary:
            if line.strip():
                self.summary.append(line.rstrip())
            return None
        m = DBT_RESULT_RE.search(line)
        if not m:
            return None
        number, total, status, rest = m.groups()
        self.total = int(total)
        self.done += 1
        self.counts[status] = self.counts.get(status, 0) + 1
        what = re.split(r"\s\.{3,}|\s\[", rest, maxsplit=1)[0].strip()
        self.last = (status, what)
        return f"dbt {number}/{total} {status:<5} {what}"

    @property
    def failures(self) -> int:
        return self.counts.get("ERROR", 0) + self.counts.get("FAIL", 0)

    def error_message(self) -> str:
        body = self.summary or self.tail[-25:]
        starts = [i for i, x in enumerate(body) if x.strip().startswith(DBT_FAILURE_PREFIXES)]
        first = body[starts[0]].strip() if starts else None
        if first and first.endswith(":") and starts[0] + 1 < len(body):
            first = f"{first} {body[starts[0] + 1].strip()}"  # "Encountered an error:" + what
        head = (
            f"dbt build failed: {first}" if first else f"dbt build failed (exit {self.returncode})"
        )
        if self.failures > 1:
            head += f" (and {self.failures - 1} more)"
        return "\n".join([head, *body[:60]])

    def details(self) -> dict[str, Any]:
        return {"nodes": self.total, "results": self.counts, "totals": self.totals}


def build_args(
    dbt_vars: dict[str, Any], full: bool, plan: dbt_runner.DataOnlyPlan | None = None
) -> list[str]:
    """`dbt build` with the refresh's vars; unit tests check SQL logic on fixed inputs:
    `make test` runs them, not every refresh. A data-only plan selects its models and
    tests by name (the vars stay those of a full build: dbt's partial parse stays warm)."""
    args = ["build", "--vars", json.dumps(dbt_vars), "--exclude-resource-type", "unit_test"]
    if full:
        args.append("--full-refresh")
    if plan:
        args += ["--select", *plan.models, *plan.tests]
    return args


class DbtBuild:
    """One dbt child process at a time; `stop()` ends it (interrupt, failure), `cancel()`
    (from another thread: the build turned out to be skippable) ends it and every later
    `run()` before it starts."""

    def __init__(self, settings: Settings, project_dir: Path | None, server_version: int):
        self.settings = settings
        self.project_dir = project_dir
        self.server_version = server_version
        self.proc: subprocess.Popen | None = None
        self.cancelled = threading.Event()
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled.set()
        self.stop()

    def prestart(self, dbt_vars: dict[str, Any] | None = None) -> None:
        """Start the dbt child now: it imports dbt (and, given the vars the build will use,
        parses the project with them) while the refresh does other work (the sources); the
        next `run()` hands it its arguments. Ended by `stop()` if unused."""
        with self._lock:
            if not self.cancelled.is_set() and self.proc is None:
                self.proc = self._spawn(dbt_vars)

    def _spawn(self, parse_vars: dict[str, Any] | None = None) -> subprocess.Popen:
        """The child (dbt_child.py): dbt in a process of its own, run on a line of stdin;
        with `parse_vars`, it parses ahead with them (`build_args` writes the same JSON)."""
        ahead = [] if parse_vars is None else ["--parse-vars", json.dumps(parse_vars)]
        extra = {"DBT_USE_COLORS": "false"}
        if self.server_version >= 140000:
            # A dbt killed mid-query must not leave its query running on the server.
            check = "-c client_connection_check_interval=2000"
            extra["PGOPTIONS"] = " ".join(x for x in (os.environ.get("PGOPTIONS"), check) if x)
        (self.settings.home / "logs" / "dbt").mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                sys.executable,
                "-P",
                str(DBT_CHILD),
                *ahead,
            ],  # -P: its folder (dbt.py) not on sys.path
            cwd=self.project_dir or dbt_runner.DBT_PROJECT_DIR,
            env=dbt_runner.dbt_env(self.settings, extra, self.project_dir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=die_with_parent,  # only prctl: safe after fork
        )

    def run(self, args: list[str], on_node: Callable[[DbtOutcome, str], None]) -> DbtOutcome:
        """Run dbt with `args` (in the pre-started child if there is one); `on_node(outcome,
        line)` after each node finishes."""
        outcome = DbtOutcome()
        with self._lock:  # a cancel() either comes before the start or sees the process
            if self.cancelled.is_set():
                return outcome
            proc = self.proc
            if proc is None or proc.poll() is not None:
                proc = self.proc = self._spawn()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(args) + "\n")
                proc.stdin.close()
            except OSError:  # the child is gone (stopped, or dbt failed to import): its
                pass  # output and exit code say why
            for raw in proc.stdout:
                event = outcome.feed(DBT_TIMESTAMP_RE.sub("", raw.rstrip()))
                if event:
                    on_node(outcome, event)
            outcome.returncode = proc.wait()
        finally:
            self.stop()
        return outcome

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
