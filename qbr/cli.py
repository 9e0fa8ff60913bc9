"""The `qbr` command: database, sandbox, refresh, API server, API keys, demo.

Each subcommand imports what it needs when it runs, so `qbr db status` stays
fast. Errors meant for a person (`QbrError`) print one line, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

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
        print(sandbox_cli.advance(state_dir, args.days))
    elif args.action == "fault":
        opts = dict(kv.split("=", 1) for kv in args.options)
        if args.kind == "clear":
            print(sandbox_cli.clear(state_dir, args.source))
        else:
            print(sandbox_cli.fault(state_dir, args.source, args.kind, **opts))
    elif args.action == "status":
        print(sandbox_cli.status(state_dir))
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from qbr import refresh

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
    return 0 if run.status in ("succeeded", "partial") else 1


def _serve(args: argparse.Namespace) -> int:
    from api import serve

    s = get_settings()
    return serve.run(
        s, host=args.host or s.api_host, port=args.port or s.api_port, production=args.production
    )


def _apikey(args: argparse.Namespace) -> int:
    from qbr import apikeys, db

    s = get_settings()
    db.prepare(s)
    if args.action == "create":
        key = apikeys.create(s, args.name, args.scope)
        print(f"created {args.scope} key {args.name!r} (shown once):")
        print(key)
    elif args.action == "list":
        for row in apikeys.list_keys(s):
            print("\t".join("" if v is None else str(v) for v in row.values()))
    elif args.action == "revoke":
        if not apikeys.revoke(s, args.name):
            raise QbrError(f"No active API key named {args.name!r}.")
        print(f"revoked {args.name!r}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from qbr import demo

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


def _runs(args: argparse.Namespace) -> int:
    from qbr import runs

    return runs.main(get_settings(), args)


def _docs(args: argparse.Namespace) -> int:
    from qbr import docs

    return docs.main(get_settings(), args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qbr", description="QBR warehouse for MSPs")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("db", help="the database: start|stop|status|url|psql|migrate")
    d.add_argument("action", choices=["start", "stop", "status", "url", "psql", "migrate"])
    d.add_argument("rest", nargs=argparse.REMAINDER, help="extra psql arguments")
    d.set_defaults(func=_db)

    sb = sub.add_parser("sandbox", help="the imitation source APIs: up|down|advance|fault|status")
    sb.add_argument("action", choices=["up", "down", "advance", "fault", "status"])
    sb.add_argument("source", nargs="?", help="fault: connectwise|quickbooks|ninjaone")
    sb.add_argument(
        "kind",
        nargs="?",
        help="fault kind (rate_limit, server_error, slow, "
        "drop_connection, expired_token, malformed_record, down) or 'clear'",
    )
    sb.add_argument("options", nargs="*", help="fault options as key=value")
    sb.add_argument("--preset", choices=["small", "demo", "large"])
    sb.add_argument("--seed", type=int)
    sb.add_argument("--days", type=int, default=1, help="advance: days to move the clock")
    sb.set_defaults(func=_sandbox)

    r = sub.add_parser(
        "refresh",
        help="load every source, then dbt build; one recorded run "
        "(exit 0 succeeded/partial, 1 failed, 3 another refresh is running)",
    )
    r.add_argument("--sources", help="comma list (default: all configured)")
    r.add_argument("--since", help="YYYY-MM: re-read history from this month")
    r.add_argument("--full", action="store_true", help="ignore cursors, reload everything")
    r.add_argument("--trigger", default="cli", help=argparse.SUPPRESS)
    r.set_defaults(func=_refresh)

    sv = sub.add_parser("serve", help="run the API and dashboard")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.add_argument("--production", action="store_true", help="gunicorn instead of the dev server")
    sv.set_defaults(func=_serve)

    k = sub.add_parser("apikey", help="API keys: create|list|revoke")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("name", nargs="?", default="admin")
    k.add_argument("--scope", choices=["read", "admin"], default="read")
    k.set_defaults(func=_apikey)

    dm = sub.add_parser("demo", help="database + sandbox + refresh + API in the foreground")
    dm.add_argument("--skip-refresh", action="store_true")
    dm.set_defaults(func=_demo)

    im = sub.add_parser("import", help="import a file export (QuickBooks Desktop P&L by month)")
    im.add_argument("kind", choices=["quickbooks-pl"])
    im.add_argument("file", help="CSV or XLSX 'Profit & Loss by Month' export")
    im.add_argument(
        "--basis",
        choices=["cash", "accrual"],
        help="the report's basis when the file has no 'Cash Basis'/'Accrual Basis' line "
        "(overrides the file's)",
    )
    im.set_defaults(func=_import)

    rn = sub.add_parser("runs", help="recent refresh runs with their steps")
    rn.add_argument("batch_id", nargs="?", help="show one run")
    rn.add_argument("--limit", type=int, default=10)
    rn.set_defaults(func=_runs)

    dc = sub.add_parser("docs", help="build (and --serve) the dbt docs site")
    dc.add_argument("--serve", action="store_true")
    dc.add_argument("--port", type=int, default=8080)
    dc.set_defaults(func=_docs)

    dbt = sub.add_parser("dbt", help="run dbt with the profile derived from settings")
    dbt.add_argument("rest", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=_dbt)
    return p


def _setup_logging(verbose: bool) -> None:
    from qbr import logs

    try:
        home = get_settings().home
    except Exception:  # a configuration error is reported by the command itself
        home = None
    logs.setup(verbose, home)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Our own progress at INFO on the terminal; libraries (alembic, dlt, dbt) and
    # their Python warnings go to <QBR_HOME>/logs/qbr.log, on the terminal only with -v.
    _setup_logging(args.verbose)
    try:
        return args.func(args) or 0
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
