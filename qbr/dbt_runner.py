"""Running dbt with the profile derived from qbr's settings.

dbt runs as a subprocess: its global state stays out of the API and refresh
processes, and a crash in a model cannot take the caller down.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from qbr.settings import PROJECT_ROOT, Settings, parse_stale_limits

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_env(
    settings: Settings,
    extra: dict[str, str] | None = None,
    project_dir: Path | None = None,
) -> dict[str, str]:
    """Environment for a dbt subprocess; `project_dir` (default: ours) holds profiles.yml."""
    project = Path(project_dir) if project_dir else DBT_PROJECT_DIR
    env = dict(os.environ)
    env.update(settings.tool_env())
    env["DBT_PROFILES_DIR"] = str(project)
    env["DBT_PROJECT_DIR"] = str(project)
    env.setdefault("DBT_LOG_PATH", str(settings.home / "logs" / "dbt"))
    # data_quality_flags' stale-source limits: QBR_STALE_AFTER_HOURS, as /health reads it
    default_hours, per_source = parse_stale_limits(settings.stale_after_hours)
    env["QBR_SOURCE_STALE_HOURS"] = f"{default_hours:g}"
    env["QBR_SOURCE_STALE_LIMITS"] = json.dumps(per_source)
    if project_dir:
        env["DBT_TARGET_PATH"] = str(project / "target")
    else:
        env.setdefault("DBT_TARGET_PATH", str(DBT_PROJECT_DIR / "target"))
    if extra:
        env.update(extra)
    return env


def run(
    settings: Settings,
    args: list[str],
    *,
    capture: bool = True,
    extra_env: dict[str, str] | None = None,
    timeout: float | None = None,
    project_dir: Path | None = None,
) -> subprocess.CompletedProcess:
    (settings.home / "logs" / "dbt").mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [dbt_executable(), *args],
        cwd=Path(project_dir) if project_dir else DBT_PROJECT_DIR,
        env=dbt_env(settings, extra_env, project_dir),
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli(settings: Settings, args: list[str]) -> int:
    return run(settings, args, capture=False).returncode


# --- skipping a build when nothing dbt reads has changed ------------------------------------

#: Relations dbt reads besides the raw and inventory schemas (the manual overlay and
#: thresholds are read by views at query time, but data_quality_flags reads them too).
APP_INPUTS = ("organization", "manual_metrics", "thresholds")
#: Load bookkeeping columns (dlt's, and the P&L's `loaded_at`): a merge of identical
#: records rewrites them, nothing else. No model reads them except for staleness, which
#: CLOCK_FLAGS covers.
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id", "_dlt_parent_id", "_dlt_root_id", "loaded_at")
#: Flags that depend on the clock and on the loads themselves, not on the rows: while one
#: is live, a build is never skipped (a load may just have cleared it).
CLOCK_FLAGS = ("source_stale", "source_not_loaded")
#: Larger tables of the MSP's inventory are fingerprinted by their write counters only.
HASH_ROWS_LIMIT = 200_000
#: Raw tables with more rows than this get the load digest (`_load_digest`) instead of the
#: content hash: counting rows per `_dlt_load_id` costs a fraction of hashing every row's
#: text (ConnectWise's 283k rows at large). Smaller tables keep the content hash, so an
#: identical re-merge of them (QuickBooks' P&L every run) still lets a build be skipped.
LOAD_DIGEST_ROWS = 50_000
#: The columns our own pipeline code UPDATEs on raw rows after dlt wrote them
#: (dlt_pipelines/deletions.py `apply`, dlt_pipelines/quarantine.py `resolve`): every other
#: change to a raw row comes from dlt with a new `_dlt_load_id` on the rows it writes.
UPDATED_COLUMNS = ("_deleted_at", "resolved_at", "resolved_load_id")
#: The fingerprint's parts that are the build's rules (a change rebuilds incrementals).
RULES = ("project", "vars", "env")
_ENV_VAR_RE = re.compile(r"env_var\(\s*['\"]([A-Za-z0-9_]+)['\"]")
_PROJECT_PARTS = ("dbt_project.yml", "packages.yml", "models", "macros", "seeds", "tests")


@dataclass
class BuildDecision:
    """Whether the refresh's build may be skipped, and the fingerprint to record."""

    skip: bool
    reason: str
    fingerprint: dict[str, Any] = field(default_factory=dict)
    #: The rules changed (project files, vars, env_var()s) or are unknown: incremental
    #: models are rebuilt in full (`--full-refresh`), so a seed, macro or model edit
    #: reaches every month they hold.
    full_refresh: bool = False

    def rules_key(self) -> str:
        """The rules a build runs with (project files, vars, env): a data-only plan is drawn
        only from a manifest stamped with the same key. Empty when unknown."""
        if not self.fingerprint.get("project"):
            return ""
        return json.dumps([self.fingerprint.get(k) for k in RULES])

    def details(self) -> dict[str, Any]:
        """What the run log keeps on the dbt_build step (skipped or built)."""
        out: dict[str, Any] = {"build_fingerprint": self.fingerprint}
        if self.skip:
            out.update({"build_skipped": True, "skip_reason": self.reason})
        else:
            out["build_reason"] = self.reason
        if self.full_refresh:
            out["full_refresh"] = "rules changed (project files, vars or env) or unknown"
        return out


def project_digest(project_dir: Path | None = None) -> tuple[str, list[str]]:
    """sha256 of every file dbt compiles (models, macros, seeds, tests, project yml), and
    the environment variables the project reads through env_var()."""
    project = Path(project_dir) if project_dir else DBT_PROJECT_DIR
    digest = hashlib.sha256()
    names: set[str] = set()
    files: list[Path] = []
    for part in _PROJECT_PARTS:
        path = project / part
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file())
    for path in sorted(files):
        data = path.read_bytes()
        digest.update(str(path.relative_to(project)).encode() + b"\0" + data + b"\0")
        if path.suffix in (".sql", ".yml", ".yaml"):
            names.update(_ENV_VAR_RE.findall(data.decode("utf-8", "replace")))
    return digest.hexdigest(), sorted(names)


def build_rules(
    settings: Settings, project_dir: Path | None = None, dbt_vars: dict[str, Any] | None = None
) -> dict[str, str]:
    """The rules part of a build's fingerprint: the project files' digest, the vars and the
    env_var()s the project reads. Known before any source runs."""
    project_hash, env_names = project_digest(project_dir)
    env = dbt_env(settings, None, project_dir)
    return {
        "project": project_hash,
        "vars": json.dumps(dbt_vars or {}, sort_keys=True, default=str),
        "env": hashlib.sha256(
            json.dumps({n: env.get(n) for n in env_names}, sort_keys=True).encode()
        ).hexdigest(),
    }


def rules_decision(conn, rules: dict[str, str]) -> BuildDecision:
    """What `decide_build` will say about the rules alone, before the sources ran: a build
    (never a skip: the data is not known yet) with `full_refresh` when the rules are not
    the last good build's. A refresh prepares its side schemas from it while the sources
    load; the decision after them must agree, or that preparation is thrown away."""
    previous = _last_fingerprint(conn)
    changed = [k for k in RULES if previous.get(k) != rules[k]]
    return BuildDecision(False, "", dict(rules), full_refresh=bool(not previous or changed))


def _counters(conn, schema: str) -> dict[str, list]:
    rows = conn.execute(
        "select relname, relid::bigint, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup "
        "from pg_stat_user_tables where schemaname = %s",
        (schema,),
    ).fetchall()
    return {r[0]: [int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5])] for r in rows}


def _sizes(conn, schema: str) -> dict[str, float]:
    """Rows per table as the planner knows them (pg_class.reltuples): unlike n_live_tup
    they survive a reset of the statistics counters (a crash, a copied database), after
    which an 18.8M-row inventory table would otherwise look small enough to hash."""
    rows = conn.execute(
        "select c.relname, c.reltuples from pg_class c join pg_namespace n "
        "on n.oid = c.relnamespace where n.nspname = %s and c.relkind in ('r', 'p')",
        (schema,),
    ).fetchall()
    return {r[0]: float(r[1]) for r in rows}


def _columns(conn, schema: str, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select attname from pg_attribute where attrelid = %s::regclass and attnum > 0 "
            "and not attisdropped order by attnum",
            (sql.Identifier(schema, table).as_string(conn),),
        ).fetchall()
    ]


def _load_digest(conn, schema: str, table: str, all_columns: list[str]) -> str | None:
    """A change detector for a large raw table, far cheaper than `_content_hash`: per
    `_dlt_load_id`, its row count and a hash over the rows our own code updated
    (UPDATED_COLUMNS not null: soft-deleted, resolved), digested into one string.

    Sound because every row dlt writes (append, replace, merge delete-insert or upsert:
    the rows come from the load's staging table) carries the new load's id, so a new,
    replaced or removed row changes some load's count; and our only other writes are the
    UPDATEs of UPDATED_COLUMNS, which the hash over `_dlt_id` and those columns follows
    (a count alone would miss "A un-deleted and B deleted" in one step). Unlike the
    content hash it sees an identical re-merge as a change (the rows get a new load id),
    which at this size costs one data-only build. None when the table lacks
    `_dlt_load_id` or `_dlt_id` (dlt's nested tables): the caller hashes its content."""
    if "_dlt_load_id" not in all_columns or "_dlt_id" not in all_columns:
        return None
    updated = [c for c in UPDATED_COLUMNS if c in all_columns]
    marked = sql.SQL("0")
    if updated:
        marked = sql.SQL(
            "coalesce(sum(hashtextextended(t._dlt_id || row({})::text, 0)) filter (where {}), 0)"
        ).format(
            sql.SQL(", ").join(sql.Identifier("t", c) for c in updated),
            sql.SQL(" or ").join(
                sql.SQL("{} is not null").format(sql.Identifier("t", c)) for c in updated
            ),
        )
    rows = conn.execute(
        sql.SQL("select t._dlt_load_id, count(*), {} from {} as t group by 1 order by 1").format(
            marked, sql.Identifier(schema, table)
        )
    ).fetchall()
    digest = hashlib.sha256(json.dumps([[r[0], r[1], str(r[2])] for r in rows]).encode())
    return f"loads:{sum(r[1] for r in rows)}:{digest.hexdigest()[:32]}"


def _content_hash(conn, schema: str, table: str, all_columns: list[str] | None = None) -> str:
    """Order-independent hash of a table's rows without dlt's bookkeeping columns: the
    sum of a hash of each row's text form over its other columns (a row constructor:
    about 4x cheaper than the row's jsonb, which dominated the build step of a one-day
    refresh at large: 9 s for ConnectWise's 283k rows)."""
    if all_columns is None:
        all_columns = _columns(conn, schema, table)
    columns = [c for c in all_columns if c not in DLT_COLUMNS]
    if columns:
        row_text = sql.SQL("row({})::text").format(
            sql.SQL(", ").join(sql.Identifier("t", c) for c in columns)
        )
    else:
        row_text = sql.SQL("''")
    row = conn.execute(
        sql.SQL("select count(*), coalesce(sum(hashtextextended({}, 0)), 0) from {} as t").format(
            row_text, sql.Identifier(schema, table)
        )
    ).fetchone()
    return f"{row[0]}:{row[1]}"


def _schema_state(
    conn,
    schema: str,
    previous: dict[str, Any],
    may_reuse: bool,
    hash_all: bool,
    digest_above: int | None = None,
) -> dict[str, Any]:
    """{table: {"c": write counters, "h": digest or None}}; a digest is reused from the
    previous fingerprint when the table's write counters did not move and `may_reuse`.
    The digest is the content hash, or with `digest_above` (raw schemas) the load digest
    for tables of more rows than that (`_load_digest`). A table whose digest changes form
    (it grew past the limit) counts as changed once: one data-only build."""
    state: dict[str, Any] = {}
    sizes = {} if hash_all and digest_above is None else _sizes(conn, schema)
    for table, counters in sorted(_counters(conn, schema).items()):
        if table.startswith("_"):  # dlt's loads / state / version tables, our checkpoints
            continue
        before = previous.get(table) or {}
        rows = max(counters[4], sizes.get(table, 0))
        if may_reuse and before.get("c") == counters and "h" in before:
            digest = before["h"]
        elif digest_above is not None and rows > digest_above:
            columns = _columns(conn, schema, table)
            digest = _load_digest(conn, schema, table, columns)
            if digest is None:
                digest = _content_hash(conn, schema, table, columns)
        elif hash_all or rows <= HASH_ROWS_LIMIT:
            digest = _content_hash(conn, schema, table)
        else:
            digest = None  # a large inventory table: its write counters stand for it
        state[table] = {"c": counters, "h": digest}
    return state


def _comparable(fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The fingerprint without write counters (they move on identical re-merges)."""
    out = dict(fingerprint)
    for key in ("raw", "app"):
        out[key] = {
            schema: {t: s["h"] for t, s in tables.items()}
            for schema, tables in (fingerprint.get(key) or {}).items()
        }
    return out


def decide_build(
    conn,
    settings: Settings,
    *,
    project_dir: Path | None = None,
    dbt_vars: dict[str, Any] | None = None,
    full: bool = False,
    since: str | None = None,
    sources: list[tuple[str, str, int | None]] | None = None,
    rules: dict[str, str] | None = None,
) -> BuildDecision:
    """Decide whether a refresh's `dbt build` can be skipped because nothing it reads has
    changed since the build that made the live marts.

    `sources` is this run's source steps as (name, status, rows_loaded). Skipped only when
    all of: no --full / --since; at least one source step, and every one succeeded; the live marts exist and
    carry no clock-driven flag (stale / never-loaded source); the fingerprint equals the
    one recorded by the last successful build step. The fingerprint covers the dbt project
    files, the vars and the env_var()s it reads, the current month in the reporting time
    zone (month-end completes periods), each raw_* table's rows (hash without dlt's
    columns; above LOAD_DIGEST_ROWS rows, the rows per dlt load id plus a hash of the
    soft-deleted / resolved rows, so an identical re-merge of such a table builds), the
    inventory tables (content hash, or write counters when large) and the
    qbr_app inputs. Any error while deciding means "build". `rules` are the project's
    rules (`build_rules()`) when the caller computed them already (before the sources ran).
    """
    fingerprint: dict[str, Any] = dict(
        rules if rules is not None else build_rules(settings, project_dir, dbt_vars)
    )
    if full or since:
        return BuildDecision(False, "--full" if full else f"--since {since}", fingerprint)
    try:
        previous = _last_fingerprint(conn)
        fingerprint["month"] = conn.execute(
            "select to_char(now() at time zone %s, 'YYYY-MM')", (settings.timezone,)
        ).fetchone()[0]
        loaded = {name: rows for name, _status, rows in sources or []}
        raw_schemas = [
            r[0]
            for r in conn.execute(
                "select nspname from pg_namespace where nspname like 'raw\\_%%' "
                "and nspname not like '%%\\_staging' order by 1"
            ).fetchall()
        ]
        fingerprint["raw"] = {
            schema: _schema_state(
                conn,
                schema,
                (previous.get("raw") or {}).get(schema) or {},
                may_reuse=loaded.get(schema.removeprefix("raw_"), 0) == 0,
                hash_all=True,
                digest_above=LOAD_DIGEST_ROWS,
            )
            for schema in raw_schemas
        }
        app = _schema_state(conn, "qbr_app", {}, may_reuse=False, hash_all=True)
        fingerprint["app"] = {
            settings.inventory_schema: _schema_state(
                conn,
                settings.inventory_schema,
                (previous.get("app") or {}).get(settings.inventory_schema) or {},
                may_reuse=True,
                hash_all=False,
            ),
            "qbr_app": {t: s for t, s in app.items() if t in APP_INPUTS},
        }
    except psycopg.Error as exc:
        conn.rollback() if not conn.autocommit else None
        return BuildDecision(False, f"could not fingerprint the inputs: {exc}".strip(), {})
    if not previous or any(previous.get(k) != fingerprint[k] for k in RULES):
        changed = [k for k in RULES if previous.get(k) != fingerprint[k]]
        return BuildDecision(
            False, f"changed: {', '.join(changed)}", fingerprint, full_refresh=True
        )
    if not sources:  # a refresh that loads no source asks for a rebuild of the marts
        return BuildDecision(False, "no source in this refresh", fingerprint)
    failed = [name for name, status, _rows in sources if status != "succeeded"]
    if failed:
        return BuildDecision(
            False, f"source step(s) not succeeded: {', '.join(failed)}", fingerprint
        )
    if _comparable(previous) != _comparable(fingerprint):
        changed = [
            k for k, v in _comparable(fingerprint).items() if _comparable(previous).get(k) != v
        ]
        return BuildDecision(False, f"changed: {', '.join(sorted(changed))}", fingerprint)
    try:
        live = conn.execute(
            "select count(*) from qbr.data_quality_flags where flag = any(%s)", (list(CLOCK_FLAGS),)
        ).fetchone()[0]
    except psycopg.Error:
        conn.rollback() if not conn.autocommit else None
        return BuildDecision(False, "the live marts are missing", fingerprint)
    if live:
        return BuildDecision(False, "a stale-source flag is live", fingerprint)
    return BuildDecision(True, "nothing dbt reads changed since the last build", fingerprint)


def _last_fingerprint(conn) -> dict[str, Any]:
    row = conn.execute(
        "select details -> 'build_fingerprint' from qbr_app.refresh_steps "
        "where kind = 'build' and status = 'succeeded' and details ? 'build_fingerprint' "
        "order by finished_at desc nulls last limit 1"
    ).fetchone()
    return (row[0] if row else None) or {}


def is_deadlock(output_lines: list[str]) -> bool:
    """Whether a failed build failed on a PostgreSQL deadlock (dbt-core#9246: concurrent
    `drop ... cascade` of backup relations); the refresh then rebuilds once."""
    return any("deadlock detected" in line for line in output_lines)


def refresh_overlays(conn) -> int | None:
    """Recompute qbr.metrics_quarterly / qbr.smartnumbers from their *_live views (migration
    0005); the refresh calls it right after its swap, so a manual entry made while the build
    ran is in the new tables too. None where the function does not exist."""
    try:
        row = conn.execute(
            "select qbr_app.refresh_overlay_tables() "
            "where to_regprocedure('qbr_app.refresh_overlay_tables()') is not null"
        ).fetchone()
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()
        return None
    return None if row is None else int(row[0])


# --- a data-only build: rebuild what the data reaches, keep the rest -------------------------

#: Written next to dbt's manifest.json after each build of a refresh: the rules the build
#: ran with (project digest, vars, env) and the manifest's invocation id, so a data-only
#: plan is only ever drawn from the manifest of the project as it is now.
BUILD_STAMP = "qbr_build_stamp.json"
#: Materializations a data-only plan understands; any other means a full build.
_PLAN_MATERIALIZATIONS = ("view", "table", "incremental")


@dataclass
class DataOnlyPlan:
    """What a data-only build runs and keeps (the rules are those of the last good build).

    Rebuilt by dbt: every table and incremental model, and every view downstream of one
    (`models`), with every data test that reads a model (`tests`). Kept: the views that
    read only sources and seeds (`views`, re-created in the side schemas from their live
    definitions, in dependency order) and the seeds (`seeds`, copied: they are small);
    the tests that read only seeds are not run again (`tests_skipped`). Incremental
    models' tables are copied into the side schemas so the build only adds to them.
    Names are (schema without suffix, relation).
    """

    models: list[str]
    tests: list[str]
    views: list[tuple[str, str]]
    seeds: list[tuple[str, str]]
    incremental: list[tuple[str, str]]
    tests_skipped: int

    def details(self) -> dict[str, Any]:
        return {
            "dbt_models_run": sorted(self.models),
            "dbt_tests_run": len(self.tests),
            "dbt_tests_not_rerun": self.tests_skipped,
            "relations_kept": {
                "views": [".".join(v) for v in self.views],
                "seeds": len(self.seeds),
            },
        }


def _target(env: dict[str, str]) -> Path:
    return Path(env.get("DBT_TARGET_PATH") or DBT_PROJECT_DIR / "target")


def stamp_build(env: dict[str, str], rules: str) -> None:
    """After a successful refresh build: tie the manifest dbt just wrote to the project."""
    target = _target(env)
    try:
        manifest = json.loads((target / "manifest.json").read_text())
        stamp = {"rules": rules, "invocation_id": manifest["metadata"]["invocation_id"]}
        (target / BUILD_STAMP).write_text(json.dumps(stamp))
    except (OSError, ValueError, KeyError):
        (target / BUILD_STAMP).unlink(missing_ok=True)


def _relation(node: dict[str, Any], marts_schema: str) -> tuple[str, str]:
    schema = (node.get("config") or {}).get("schema") or marts_schema
    return str(schema).strip(), node.get("alias") or node["name"]


def data_only_plan(
    env: dict[str, str], rules: str, marts_schema: str = "qbr"
) -> tuple[DataOnlyPlan | None, str]:
    """The plan of a data-only build from the last build's manifest, or (None, why not)."""
    target = _target(env)
    try:
        stamp = json.loads((target / BUILD_STAMP).read_text())
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return None, "no manifest of the last build"
    if stamp.get("rules") != rules or stamp.get("invocation_id") != (
        manifest.get("metadata") or {}
    ).get("invocation_id"):
        return None, "the saved manifest is not the last build's"
    nodes: dict[str, dict[str, Any]] = manifest.get("nodes") or {}
    models = {k: v for k, v in nodes.items() if v.get("resource_type") == "model"}
    seeds = {k: v for k, v in nodes.items() if v.get("resource_type") == "seed"}
    if any(v.get("resource_type") == "snapshot" for v in nodes.values()):
        return None, "the project has snapshots"
    odd = sorted(
        v["name"]
        for v in models.values()
        if (v.get("config") or {}).get("materialized") not in _PLAN_MATERIALIZATIONS
    )
    if odd:
        return None, f"materializations a data-only build does not handle: {', '.join(odd)}"

    def parents(uid: str) -> list[str]:
        return list((nodes[uid].get("depends_on") or {}).get("nodes") or [])

    reached: dict[str, bool] = {}

    def is_reached(uid: str) -> bool:
        if uid not in reached:
            reached[uid] = False  # no cycles in a dbt graph; guards the recursion
            mat = models[uid]["config"]["materialized"]
            reached[uid] = mat != "view" or any(is_reached(p) for p in parents(uid) if p in models)
        return reached[uid]

    rebuilt = sorted(uid for uid in models if is_reached(uid))
    kept = [uid for uid in models if not is_reached(uid)]
    ordered: list[str] = []  # kept views, each after the kept views it reads
    pending = sorted(kept)
    while pending:
        ready = [u for u in pending if all(p not in pending for p in parents(u) if p in models)]
        if not ready:
            return None, "a cycle among the kept views"
        ordered += ready
        pending = [u for u in pending if u not in ready]
    tests, skipped = [], 0
    for uid, node in sorted(nodes.items()):
        if node.get("resource_type") != "test":
            continue
        node_parents = [p for p in parents(uid) if p in nodes]
        if node_parents and all(p in seeds for p in node_parents):
            skipped += 1  # reads only seeds: unchanged since the last good build
        else:
            tests.append(node["name"])
    plan = DataOnlyPlan(
        models=[models[u]["name"] for u in rebuilt],
        tests=tests,
        views=[_relation(models[u], marts_schema) for u in ordered],
        seeds=sorted(_relation(v, marts_schema) for v in seeds.values()),
        incremental=sorted(
            _relation(models[u], marts_schema)
            for u in rebuilt
            if models[u]["config"]["materialized"] == "incremental"
        ),
        tests_skipped=skipped,
    )
    return plan, "the rules are the last good build's: only what the data reaches is rebuilt"
