"""Issue 12 items 4, 5 and 7: the command line a newcomer and an operator meet.

`qbr dbt` passes arguments through, every subcommand's --help explains it,
`make help` has no escape codes off a terminal, deploy/env.example sources in
a shell, `make docs` takes a port, `qbr serve` is gunicorn, and commands
print no library warnings.
"""

from __future__ import annotations

import argparse
import io
import re
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest
import requests

from qbr import progress
from qbr.app import cli, docs
from qbr.settings import PROJECT_ROOT

QBR = [sys.executable, "-m", "qbr.app.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- qbr dbt -------------------------------------------------------------------------------


def test_qbr_dbt_passes_every_argument_through(monkeypatch, settings):
    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr("qbr.dbt_runner.run_cli", lambda s, args: seen.append(args) or 0)
    assert cli.main(["dbt", "build", "-s", "x+", "--full-refresh"]) == 0
    assert cli.main(["-v", "dbt", "--version"]) == 0
    assert cli.main(["dbt", "test", "--help"]) == 0
    assert seen == [["build", "-s", "x+", "--full-refresh"], ["--version"], ["test", "--help"]]


def test_qbr_dbt_version_runs_dbt(monkeypatch, settings, capfd):
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["dbt", "--version"]) == 0
    out = capfd.readouterr().out
    assert re.search(r"installed:\s+1\.11\.\d+", out), out


# --- help ----------------------------------------------------------------------------------


def test_every_subcommand_help_describes_its_actions_and_options():
    parser = cli.build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(subparsers.choices) >= {"db", "refresh", "status", "serve", "dbt", "demo"}
    for name, sub in subparsers.choices.items():
        assert sub.description and len(sub.description) > 80, name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.dest)
        text = sub.format_help()
        for choice in next((a.choices for a in sub._actions if a.dest == "action"), None) or []:
            assert re.search(rf"^\s+{choice}\b", text, re.M), (
                name,
                choice,
            )  # each action explained
    refresh_help = subparsers.choices["refresh"].format_help()
    for code in ("0 ", "4 ", "1 ", "3 "):
        assert f"\n  {code}" in refresh_help


def test_make_help_has_no_escape_codes_off_a_terminal():
    out = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "\x1b" not in out
    assert re.search(r"^  demo\s+\S", out, re.M) and re.search(r"^  docs\s+\S", out, re.M)


# --- deploy/env.example and make docs ---------------------------------------------------------


def test_env_example_sources_in_a_shell_with_every_value_quoted():
    path = PROJECT_ROOT / "deploy" / "env.example"
    assignments = [
        line for line in path.read_text().splitlines() if re.match(r"^#?[A-Z][A-Z0-9_]*=", line)
    ]
    assert len(assignments) > 20
    for line in assignments:
        assert re.fullmatch(r'#?[A-Z][A-Z0-9_]*="[^"$`\\]*"', line), line
    got = subprocess.run(
        ["sh", "-c", f'set -e; set -a; . "{path}"; set +a; env'],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert got.returncode == 0 and got.stderr == "", got.stderr
    env = dict(line.split("=", 1) for line in got.stdout.splitlines() if "=" in line)
    assert env["QBR_ORG_NAME"] == "Enersystems, LLC"
    assert env["QBR_TIMEZONE"] == "America/Chicago"
    assert env["QBR_SOURCES"] == ""


def test_make_docs_honours_a_port(monkeypatch, settings):
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "docs", "DOCS_PORT=9123"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "docs --serve --port 9123" in out
    served: list[int] = []
    monkeypatch.setattr(docs, "generate", lambda s: PROJECT_ROOT)
    monkeypatch.setattr(docs, "serve", lambda site, host, port: served.append(port) or 0)
    configured = settings.model_copy(update={"docs_port": 8111})
    docs.main(configured, SimpleNamespace(serve=True, port=None))
    docs.main(configured, SimpleNamespace(serve=True, port=8222))
    assert served == [8111, 8222]


# --- qbr serve: gunicorn; no warnings --------------------------------------------------------


def test_qbr_serve_is_gunicorn_and_stops_on_ctrl_c(settings_env):
    port = _free_port()
    env = {**settings_env, "QBR_API_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("XDG_RUNTIME_DIR", None)
    proc = subprocess.Popen(
        [*QBR, "serve"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/qbr/health", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # workers still booting
                assert time.monotonic() < deadline, "qbr serve never answered"
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.2)
        assert r.headers["Server"] == "gunicorn"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children and all("gunicorn" in " ".join(c.cmdline()) for c in children)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(40)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("qbr serve did not stop on Ctrl-C")
    out = proc.stdout.read().decode()
    assert proc.returncode == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert "development server" not in out
    assert "Warning" not in out and "XDG_RUNTIME_DIR" not in out


def test_commands_print_no_library_warnings(settings_env):
    env = dict(settings_env)
    env.pop("XDG_RUNTIME_DIR", None)
    for argv in (["db", "status"], ["status"], ["runs", "--limit", "1"], ["sandbox", "status"]):
        got = subprocess.run(
            [*QBR, *argv], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )
        assert "Warning" not in got.stderr and "XDG_RUNTIME_DIR" not in got.stderr, (
            argv,
            got.stderr,
        )
        assert "{'" not in got.stdout, (argv, got.stdout)  # no raw dicts


# --- progress --------------------------------------------------------------------------------


def _step(**kw):
    base = dict(
        name="connectwise",
        kind="source",
        status="succeeded",
        rows_loaded=1234,
        rows_rejected=0,
        duration_ms=2500,
        error=None,
        details={},
    )
    return SimpleNamespace(**{**base, **kw})


def test_plain_progress_prints_a_line_per_step_periodic_counts_and_a_table():
    out = io.StringIO()
    rep = progress.Reporter(stream=out, tty=False, interval=0.05)
    rep.step_started(0, 2, "connectwise", "source")
    with rep.collecting():
        collector = progress.collector()
        collector("Extract (connectwise)")
        with collector:
            collector.update("tickets", inc=100)
            collector.update("tickets", inc=50)
            collector.update("Resources", inc=1)  # dlt bookkeeping: not rows
    deadline = time.monotonic() + 10
    while "so far" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    rep.step_finished(_step(rows_loaded=150))
    assert progress.collector() is None
    rep.step_started(1, 2, "dbt_build", "build")
    rep.build_node(1, 2, "OK", "created sql view model qbr__build.a")
    rep.build_node(2, 2, "FAIL", "unique_a_id")
    build = _step(
        name="dbt_build",
        kind="build",
        status="failed",
        rows_loaded=None,
        duration_ms=61000,
        error="dbt build failed: Failure in test unique_a_id\nmore",
        details={"results": {"OK": 1, "FAIL": 1}},
    )
    rep.step_finished(build)
    rep.summary("bc_X", "failed", 63.5, [_step(rows_loaded=150), build])
    lines = out.getvalue().splitlines()
    assert lines[0] == "  [1/2] connectwise ..."
    assert "        connectwise: 150 rows, 2 pages, " in out.getvalue()
    assert "        connectwise succeeded in 2.5s, 150 rows, 2 pages" in lines
    assert "        dbt_build failed in 1m01s, 2/2 nodes, 1 failed" in lines
    assert "          dbt build failed: Failure in test unique_a_id" in lines
    table = lines[lines.index("refresh bc_X: failed in 1m04s") + 1 :]
    assert table == [
        "  step         status       loaded   time  note",
        "  connectwise  succeeded  150 rows   2.5s",
        "  dbt_build    failed      2 nodes  1m01s  dbt build failed: Failure in test unique_a_id",
    ]


def test_terminal_progress_marks_steps_and_prints_the_table():
    out = io.StringIO()
    rep = progress.Reporter(stream=out, tty=True)
    rep.step_started(0, 1, "quickbooks", "source")
    rep.step_finished(_step(name="quickbooks", rows_loaded=42, duration_ms=1500))
    rep.summary("bc_T", "succeeded", 2.0, [_step(name="quickbooks", rows_loaded=42)])
    lines = [x.rstrip() for x in out.getvalue().splitlines()]
    assert "  ✓ quickbooks           succeeded in 1.5s, 42 rows, 0 pages" in lines
    assert "refresh bc_T: succeeded in 2.0s" in lines
    header = next(x for x in lines if x.lstrip().startswith("step"))
    assert header.split() == ["step", "status", "loaded", "time"]
    assert any(x.split() == ["quickbooks", "succeeded", "42", "rows", "2.5s"] for x in lines)
