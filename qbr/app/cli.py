"""The `qbr` command: database, sandbox, refresh, API server, API keys, demo.

Each subcommand imports what it needs when it runs, so `qbr db status` stays
fast. Errors meant for a person (`QbrError`) print one line, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import warnings

from pydantic import ValidationError

from qbr.errors import QbrError
from qbr.settings import get_settings


def _db(args: argparse.Namespace) -> int:
    from qbr import db, embedded, migrate

    s = get_settings()
    if args.action == "start":
        if not s.embedded:
            print("QBR_DATABASE_URL is set: using the external server, nothing to start.")
            return 0
        st = embedded.start(s)
        db.ensure_database(s)
        print(f"embedded PostgreSQL {st.detail}; data in {st.pgdata}")
    elif args.action == "stop":
        if not s.embedded:
            print("QBR_DATABASE_URL is set: the external server is not ours to stop.")
            return 0
        st = embedded.stop(s)
        print(f"embedded PostgreSQL {st.detail}")
    elif args.action == "status":
        if s.embedded:
            st = embedded.status(s)
            print(f"embedded PostgreSQL {st.detail}; data in {st.pgdata}")
            if not st.running:
                return 1
        with db.connect(s) as conn:
            version = conn.execute("show server_version").fetchone()[0]
        print(f"connected: PostgreSQL {version}, migration {migrate.current(s) or 'none'}")
    elif args.action == "url":
        db.ensure_server(s)
        print(s.url)
    elif args.action == "psql":
        db.ensure_server(s)
        psql = str(embedded.psql_path()) if s.embedded else "psql"
        os.execvp(psql, [psql, s.url, *args.rest])
    elif args.action == "migrate":
        db.ensure_server(s)
        db.ensure_database(s)
        migrate.upgrade(s)
        print(f"qbr_app at migration {migrate.current(s)}")
    return 0


def _print_json(value) -> None:
    """Structured answers as JSON (never a Python repr)."""
    import json

    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _sandbox(args: argparse.Namespace) -> int:
    from sandbox import cli as sandbox_cli

    s = get_settings()
    state_dir = s.home
    if args.action == "up":
        state = sandbox_cli.up(
            preset=args.preset or s.sandbox_preset,
            seed=args.seed if args.seed is not None else s.sandbox_seed,
            host=s.sandbox_host,
            base_port=s.sandbox_port,
            state_dir=state_dir,
        )
        for name, url in state["urls"].items():
            print(f"{name}: {url}")
    elif args.action == "down":
        sandbox_cli.down(state_dir)
        print("sandbox stopped")
    elif args.action == "advance":
        _print_json(sandbox_cli.advance(state_dir, args.days))
    elif args.action == "fault":
        opts = dict(kv.split("=", 1) for kv in args.options)
        if args.kind == "clear":
            _print_json(sandbox_cli.clear(state_dir, args.source))
        else:
            _print_json(sandbox_cli.fault(state_dir, args.source, args.kind, **opts))
    elif args.action == "status":
        _print_json(sandbox_cli.status(state_dir))
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from qbr.app import refresh

    sources = [x for x in (args.sources or "").split(",") if x] or None
    try:
        run = refresh.run_refresh(
            get_settings(),
            sources=sources,
            since=args.since,
            full=args.full,
            trigger=args.trigger,
        )
    except refresh.RefreshBusy as exc:  # another refresh holds the lock
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return refresh.exit_code(run.status)


def _status(args: argparse.Namespace) -> int:
    import json

    from qbr import health

    s = get_settings()
    if s.embedded:
        from qbr import embedded

        if not embedded.status(s).running:
            report = health.unreachable(
                "The embedded PostgreSQL is not running (`qbr db start` starts it)."
            )
        else:
            report = health.check(s)
    else:
        report = health.check(s)
    print(json.dumps(report, indent=2) if args.json else health.format_text(report, s.timezone))
    return health.EXIT_CODE[report["status"]]


def _serve(args: argparse.Namespace) -> int:
    from qbr.app import serve

    s = get_settings()
    host, port = args.host or s.api_host, args.port or s.api_port
    print(f"Dashboard: http://{host}:{port}/  (sign in with an API key)", flush=True)
    return serve.run(s, host=host, port=port, dev=args.dev)


def _apikey(args: argparse.Namespace) -> int:
    from qbr import apikeys, db

    s = get_settings()
    db.prepare(s)
    if args.action == "create":
        key = apikeys.create(s, args.name, args.scope)
        print(f"created {args.scope} key {args.name!r} (shown once):")
        print(key)
    elif args.action == "list":
        columns = ("name", "scope", "key_prefix", "created_at", "last_used_at", "revoked_at")
        for row in apikeys.list_keys(s):
            print("\t".join("" if row[c] is None else str(row[c]) for c in columns))
    elif args.action == "revoke":
        if not apikeys.revoke(s, args.name):
            raise QbrError(f"No active API key named {args.name!r}.")
        print(f"revoked {args.name!r}")
    elif args.action == "restore":
        if not apikeys.restore_oidc(s, args.name):
            raise QbrError(f"No revoked single-sign-on row named {args.name!r}.")
        print(f"restored {args.name!r}: their next sign-in is checked against QBR_OIDC_ALLOW")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from qbr.app import demo

    return demo.run(get_settings(), skip_refresh=args.skip_refresh)


def _dbt(args: argparse.Namespace) -> int:
    from qbr import dbt_runner

    s = get_settings()
    from qbr import db

    db.ensure_server(s)
    return dbt_runner.run_cli(s, args.rest)


def _import(args: argparse.Namespace) -> int:
    from dlt_pipelines import quickbooks_desktop

    return quickbooks_desktop.import_cli(get_settings(), args)


def _sources(args: argparse.Namespace) -> int:
    from qbr.app import sources

    rows = sources.describe(get_settings())
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        mark = "loads" if row["loads_by_default"] else "skips"
        print(f"{row['name']:<20} {mark}  {row['label']} ({row['configured_by']})")
        if row["where"]:
            print(f"{'':<27}{row['where']}")
        if row["settings"]:
            print(f"{'':<27}settings: {', '.join(row['settings'])}")
        if row["sandbox_server"]:
            print(f"{'':<27}sandbox server: {row['sandbox_server']}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from qbr.app import runs

    return runs.main(get_settings(), args)


def _docs(args: argparse.Namespace) -> int:
    from qbr.app import docs

    return docs.main(get_settings(), args)


def _sub(sub, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="qbr",
        description="QBR warehouse for MSPs: sources -> PostgreSQL -> dbt marts -> API.",
        epilog="`qbr COMMAND --help` describes each command. Settings come from QBR_* "
        "environment variables or .env (README: Configuration).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, dbt's every line")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = _sub(
        sub,
        "db",
        "the database: start|stop|status|url|psql|migrate",
        """actions:
  start    start the embedded PostgreSQL (creates it on first use)
  stop     stop the embedded PostgreSQL
  status   is it running, which version and migration (exit 1 when stopped)
  url      print the connection URL (password included) on the last line
  psql     open psql on the database; further arguments go to psql
  migrate  apply the qbr_app migrations (idempotent)
With QBR_DATABASE_URL set, start/stop do nothing: the server is not ours.""",
    )
    d.add_argument(
        "action",
        choices=["start", "stop", "status", "url", "psql", "migrate"],
        help="what to do (see actions)",
    )
    d.add_argument("rest", nargs=argparse.REMAINDER, help="psql: extra psql arguments")
    d.set_defaults(func=_db)

    sb = _sub(
        sub,
        "sandbox",
        "the imitation source APIs: up|down|advance|fault|status",
        """actions:
  up                           start ConnectWise, QuickBooks and NinjaOne imitations
                               (ports QBR_SANDBOX_PORT, +1, +2) in the background
  down                         stop them
  advance [--days N]           move the synthetic MSP's clock: new and changed records
  fault SOURCE KIND [k=v ...]  inject a fault: rate_limit, server_error, slow,
                               drop_connection, expired_token, malformed_record, down
  fault SOURCE clear           remove that source's faults
  status                       what runs, the MSP's date, request counts""",
    )
    sb.add_argument(
        "action", choices=["up", "down", "advance", "fault", "status"], help="see actions"
    )
    sb.add_argument("source", nargs="?", help="fault: connectwise|quickbooks|ninjaone")
    sb.add_argument("kind", nargs="?", help="fault kind, or 'clear'")
    sb.add_argument("options", nargs="*", help="fault options as key=value")
    sb.add_argument("--preset", choices=["small", "demo", "large"], help="up: size of the MSP")
    sb.add_argument("--seed", type=int, help="up: random seed of the MSP")
    sb.add_argument("--days", type=int, default=1, help="advance: days to move the clock")
    sb.set_defaults(func=_sandbox)

    r = _sub(
        sub,
        "refresh",
        "load every source, then dbt build; one recorded run "
        "(exit 0 succeeded, 4 partial, 1 failed, 3 another refresh is running)",
        """Loads each configured source (one failing does not stop the others), then
builds every dbt layer into side schemas and swaps them in only if every model
and test passed. Shows one line per step while it runs and a summary at the end;
dbt's per-node lines go to $QBR_HOME/logs/dbt/ (and to the screen with -v).

exit codes:
  0    succeeded: every step
  4    partial: a source failed; its data stays as of its last good load
  1    failed: the build or a test failed; the previous marts stay
  2    bad option or configuration; nothing ran
  3    another refresh is queued or running; nothing done
  130  interrupted""",
    )
    r.add_argument("--sources", help="comma list, e.g. connectwise,quickbooks (default: all)")
    r.add_argument("--since", metavar="YYYY-MM", help="re-read history from this month")
    r.add_argument("--full", action="store_true", help="ignore cursors and incremental tables")
    r.add_argument("--trigger", default="cli", help=argparse.SUPPRESS)
    r.set_defaults(func=_refresh)

    st = _sub(
        sub,
        "status",
        "health: ok, degraded or failing, and why (exit 0 ok, 1 degraded, 2 failing)",
        """The same report as GET /api/qbr/health:
  ok        the marts are served, every source loaded within its staleness limit
  degraded  a source failed on its last refresh, never loaded, or is older than
            its limit (QBR_STALE_AFTER_HOURS, e.g. 26,quickbooks=50)
  failing   the database or the marts are unreachable, or the last refresh failed
Exit code 0 ok, 1 degraded, 2 failing, for monitors.""",
    )
    st.add_argument("--json", action="store_true", help="print the report as JSON")
    st.set_defaults(func=_status)

    sv = _sub(
        sub,
        "serve",
        "run the API and dashboard under gunicorn (--dev: reloading dev server)",
        """Serves the API (/api/qbr) and the dashboard (/) in the foreground with
gunicorn, the same server as deploy/qbr-api.service; Ctrl-C stops it.
--dev runs Werkzeug's server instead, reloading on code changes (never in
production).""",
    )
    sv.add_argument("--host", help="address to listen on (default QBR_API_HOST)")
    sv.add_argument("--port", type=int, help="port (default QBR_API_PORT)")
    sv.add_argument("--dev", action="store_true", help="Werkzeug dev server with auto-reload")
    sv.add_argument("--production", action="store_true", help=argparse.SUPPRESS)
    sv.set_defaults(func=_serve)

    k = _sub(
        sub,
        "apikey",
        "API keys: create|list|revoke|restore",
        """actions:
  create NAME [--scope read|admin]  make a key; it is printed once, stored hashed
  list                              every key: name, scope, created, last used
  revoke NAME                       revoke the active key with that name
  restore oidc:EMAIL                let a person locked out by revoke sign in again""",
    )
    k.add_argument("action", choices=["create", "list", "revoke", "restore"], help="see actions")
    k.add_argument("name", nargs="?", default="admin", help="the key's name (default admin)")
    k.add_argument("--scope", choices=["read", "admin"], default="read", help="default read")
    k.set_defaults(func=_apikey)

    dm = _sub(
        sub,
        "demo",
        "database + sandbox + refresh + API in the foreground",
        """Starts the embedded database and the sandbox, writes the sandbox inventory,
runs a full refresh, creates a fresh admin key, then serves the API and
dashboard under gunicorn until Ctrl-C (which stops the API and the sandbox and
keeps the data: a second run reuses it). Prints a short summary: URLs, key,
where the data lives, how to stop.""",
    )
    dm.add_argument("--skip-refresh", action="store_true", help="serve the data already there")
    dm.set_defaults(func=_demo)

    im = _sub(
        sub,
        "import",
        "import a file export (QuickBooks Desktop P&L by month)",
        """kinds:
  quickbooks-pl FILE  a QuickBooks Desktop "Profit & Loss by Month" export (CSV or
                      XLSX) into raw_quickbooks.profit_and_loss; re-importing the
                      same file changes nothing. `qbr refresh` then rebuilds.""",
    )
    im.add_argument("kind", choices=["quickbooks-pl"], help="the export's kind (see kinds)")
    im.add_argument("file", help="CSV or XLSX 'Profit & Loss by Month' export")
    im.add_argument(
        "--basis",
        choices=["cash", "accrual"],
        help="the report's basis when the file has no 'Cash Basis'/'Accrual Basis' line "
        "(overrides the file's)",
    )
    im.set_defaults(func=_import)

    so = _sub(
        sub,
        "sources",
        "the registered sources and how each is configured now",
        """One entry per source of the registry (qbr/sources.py): whether a plain
`qbr refresh` loads it ("loads") or skips it, how it is configured (its
SOURCES__<NAME>__* settings, the running sandbox, files in its drop folder),
the settings it needs and the sandbox server imitating it.""",
    )
    so.add_argument("--json", action="store_true", help="print JSON")
    so.set_defaults(func=_sources)

    rn = _sub(
        sub,
        "runs",
        "recent refresh runs with their steps",
        """Without BATCH_ID: the latest runs, one block each (status, progress, start,
duration, trigger, then each step with rows and its first error line).
With BATCH_ID: that run in full (options, every error, anomaly flags, log file).""",
    )
    rn.add_argument("batch_id", nargs="?", help="show one run (bc_...)")
    rn.add_argument("--limit", type=int, default=10, help="how many runs (default 10)")
    rn.set_defaults(func=_runs)

    dc = _sub(
        sub,
        "docs",
        "build (and --serve) the dbt docs site",
        """Runs `dbt docs generate` (lineage, every formula) into dbt_project/target;
with --serve, serves it on QBR_API_HOST at --port (default QBR_DOCS_PORT, 8080)
until Ctrl-C. The API serves the same site at /api/qbr/docs/.""",
    )
    dc.add_argument("--serve", action="store_true", help="serve the site after building it")
    dc.add_argument("--port", type=int, help="port to serve on (default QBR_DOCS_PORT)")
    dc.set_defaults(func=_docs)

    dbt = _sub(
        sub,
        "dbt",
        "run dbt with the profile derived from settings; every argument passes through",
        """Everything after `dbt` goes to dbt unchanged, with the profile and target
derived from your settings: `qbr dbt --version`, `qbr dbt build -s model+
--full-refresh`, `qbr dbt test -s reactive_boards`. `qbr dbt --help` is dbt's
help.""",
    )
    dbt.add_argument("rest", nargs=argparse.REMAINDER, help="dbt's arguments")
    dbt.set_defaults(func=_dbt)
    return p


def _setup_logging(verbose: bool) -> None:
    from qbr import logs

    try:
        home = get_settings().home
    except Exception:  # a configuration error is reported by the command itself
        home = None
    logs.setup(verbose, home)


GLOBAL_FLAGS = ("-v", "--verbose")


def _split_dbt(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`[-v] dbt ARGS...` -> (["-v", "dbt"], ARGS): argparse would eat dbt's options."""
    i = 0
    while i < len(argv) and argv[i] in GLOBAL_FLAGS:
        i += 1
    if i < len(argv) and argv[i] == "dbt":
        return argv[: i + 1], argv[i + 1 :]
    return argv, None


def main(argv: list[str] | None = None) -> int:
    entry_point = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    head, dbt_args = _split_dbt(argv)
    args = build_parser().parse_args(head)
    if dbt_args is not None:
        args.rest = dbt_args
    # Our own progress at INFO on the terminal; libraries (alembic, dlt, dbt) and
    # their Python warnings go to <QBR_HOME>/logs/qbr.log, on the terminal only with -v.
    _setup_logging(args.verbose)
    if not args.verbose:
        warnings.simplefilter("ignore")
        if entry_point:  # the real command: its child processes (dbt, gunicorn) too
            os.environ.setdefault("PYTHONWARNINGS", "ignore")
    try:
        return args.func(args) or 0
    except ValidationError as exc:  # a QBR_* setting that does not parse
        for err in exc.errors():
            name = "QBR_" + "_".join(str(x) for x in err["loc"]).upper()
            msg = str(err["msg"]).removeprefix("Value error, ")
            print(f"error: {msg if msg.startswith(name) else f'{name}: {msg}'}", file=sys.stderr)
        return 2
    except QbrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
