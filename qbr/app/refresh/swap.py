"""Readers never see half-built marts (docs/contracts.md section 3).

dbt builds every layer into `<schema>__build` (vars `marts_suffix` and, when the
project declares it, `layers_suffix`); only a successful build is swapped in,
in one short transaction that takes the old marts' views and tables ACCESS
EXCLUSIVE (alternating an instant NOWAIT try with a short wait under half the
deadlock timeout, retried with jitter, so a reader is never deadlocked or
errored), renames `qbr` -> `qbr__old` and `qbr__build` -> `qbr` and re-grants
the API role (qbr.roles). `qbr__old` is dropped right after in its own
transaction; a failed build drops `qbr__build`. Before a build the side
schemas get the live incremental tables (copied) and, for a data-only build,
the seeds (copied) and the views over sources (re-created from their live
definitions), so they are complete when swapped (`prepare_data_only`).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from qbr import dbt_runner
from qbr.app.refresh.errors import StepError
from qbr.dbt_runner import DataOnlyPlan
from qbr.refresh.locks import run_lock_held
from qbr.roles import grant_read

log = logging.getLogger("qbr.refresh")

MARTS_SCHEMA = "qbr"
BUILD_SUFFIX = "__build"
OLD_SUFFIX = "__old"
BUILD_SCHEMA = MARTS_SCHEMA + BUILD_SUFFIX
OLD_SCHEMA = MARTS_SCHEMA + OLD_SUFFIX
#: The other schemas dbt writes. A project that declares the var `layers_suffix` (ours
#: does) builds them into `<name>__build` as well, and all are swapped in together, so a
#: failed build never leaves a half-rebuilt layer behind (a view rebuilt by dbt drops its
#: dependants with CASCADE; one skipped after a failure would stay missing).
LAYER_SCHEMAS = ("qbr_staging", "qbr_intermediate", "qbr_seeds")
#: Layers whose tables (dbt incremental models) are copied into the side schema before
#: a build, so an incremental build stays incremental (`--full` skips the copy).
INCREMENTAL_LAYERS = ("qbr_staging", "qbr_intermediate")

#: Lock wait per attempt, capped at half the server's deadlock_timeout: in a lock cycle
#: with a reader, the swap always gives up (and retries) before a reader could be the
#: one the deadlock detector aborts.
SWAP_LOCK_TIMEOUT_MS = 500
SWAP_MAX_WAIT_S = 600
DROP_MAX_WAIT_S = 60


def schema_exists(conn: psycopg.Connection, name: str) -> bool:
    return bool(
        conn.execute(
            "select exists (select from pg_namespace where nspname = %s)", (name,)
        ).fetchone()[0]
    )


def relations(conn: psycopg.Connection, schema: str, kinds: str = "rpmvf") -> set[str]:
    rows = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relkind = any(%s)",
        (schema, list(kinds)),
    ).fetchall()
    return {name for (name,) in rows}


def is_layered(project_dir: Path | None) -> bool:
    """Whether the dbt project builds every layer into side schemas (declares the var
    `layers_suffix`); a project that does not gets only its marts swapped."""
    path = (project_dir or dbt_runner.DBT_PROJECT_DIR) / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        project = {}
    return "layers_suffix" in (project.get("vars") or {})


class SchemaSwap:
    """The side schemas of one build: drop, copy incremental tables in, swap in."""

    def __init__(self, conn: psycopg.Connection, layered: bool, say: Callable[[str], None]):
        self.conn = conn  # autocommit; holds the run lock
        self.layered = layered
        self.say = say
        self._lock_timeout_ms: int | None = None

    def schemas(self) -> tuple[str, ...]:
        """The schemas a build writes (and the swap renames)."""
        return (*LAYER_SCHEMAS, MARTS_SCHEMA) if self.layered else (MARTS_SCHEMA,)

    def drop_build_schemas(self, wait_s: float = DROP_MAX_WAIT_S) -> None:
        for schema in self.schemas():
            self.drop_schema(schema + BUILD_SUFFIX, wait_s=wait_s)

    def copy_incremental_tables(
        self, tables: list[tuple[str, str]] | None = None
    ) -> dict[str, int]:
        """Copy the live layers' tables into the side schemas, so the build only adds to
        them; the live tables are never written by a build. `tables` names the incremental
        models' (schema, table) (a data-only plan); without it every table of the
        incremental layers is copied (no manifest to tell which are incremental)."""
        if tables is None:
            tables = [
                (s, t) for s in INCREMENTAL_LAYERS for t in sorted(relations(self.conn, s, "rp"))
            ]
        copied: dict[str, int] = {}
        with self.conn.transaction():
            for schema, table in tables:
                self._copy_table(schema, table, copied)
        return copied

    def _copy_table(self, schema: str, table: str, copied: dict[str, int]) -> None:
        """One live table into the side schema: rows first, then its indexes (building an
        index once is about half the cost of keeping it up to date row by row)."""
        target = schema + BUILD_SUFFIX
        conn = self.conn
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(target)))
        conn.execute(
            sql.SQL("create table {} (like {} including all excluding indexes)").format(
                sql.Identifier(target, table), sql.Identifier(schema, table)
            )
        )
        cur = conn.execute(
            sql.SQL("insert into {} select * from {}").format(
                sql.Identifier(target, table), sql.Identifier(schema, table)
            )
        )
        copied[f"{schema}.{table}"] = cur.rowcount
        conn.execute("set local search_path = ''")  # names in the definitions qualified
        indexes = conn.execute(
            "select pg_get_indexdef(i.indexrelid) from pg_index i where i.indrelid = %s::regclass",
            (sql.Identifier(schema, table).as_string(conn),),
        ).fetchall()
        on = re.compile(r" ON (ONLY )?\"?" + re.escape(schema) + r"\"?\.")
        for (definition,) in indexes:
            moved, n = on.subn(lambda m: f" ON {m.group(1) or ''}{target}.", definition, count=1)
            if n != 1:
                raise StepError(f"cannot copy an index of {schema}.{table}: {definition}")
            conn.execute(sql.SQL(moved))

    def prepare_data_only(self, plan: DataOnlyPlan) -> dict[str, int]:
        """Side schemas for a data-only build (qbr.dbt_runner.DataOnlyPlan): the seeds and
        the incremental tables copied, the views that read only sources and seeds
        re-created from their live definitions (each name in a side schema pointed at the
        side schema; no data is copied for them). dbt then builds the rest beside them and
        the usual swap switches every schema at once. Raises StepError when a live
        relation the plan keeps is missing (the caller builds in full instead)."""
        copied = self.copy_kept_tables(plan)
        self.create_kept_views(plan)
        return copied

    def copy_kept_tables(self, plan: DataOnlyPlan) -> dict[str, int]:
        """The first half of `prepare_data_only`: the side schemas created, the seeds and
        the incremental tables copied. They are dbt's own (no source writes them), so a
        refresh does this while the sources load."""
        conn = self.conn
        names = set(self.schemas())
        copied: dict[str, int] = {}
        with conn.transaction():
            for schema in self.schemas():
                conn.execute(
                    sql.SQL("create schema if not exists {}").format(
                        sql.Identifier(schema + BUILD_SUFFIX)
                    )
                )
            for schema, table in (*plan.seeds, *plan.incremental):
                if schema not in names or table not in relations(conn, schema, "rp"):
                    raise StepError(f"{schema}.{table} is not live")
                self._copy_table(schema, table, copied)
        return copied

    def create_kept_views(self, plan: DataOnlyPlan) -> None:
        """The second half: the kept views re-created in the side schemas from their live
        definitions. They read the raw tables (which a load may alter), so a refresh does
        this after the sources finished."""
        conn = self.conn
        names = set(self.schemas())
        with conn.transaction():
            conn.execute("set local search_path = ''")  # every name in a definition qualified
            qualified = re.compile(
                r"(?<![\w.\"])(" + "|".join(re.escape(s) for s in sorted(names)) + r")\."
            )
            for schema, view in plan.views:
                row = conn.execute(
                    "select pg_get_viewdef(c.oid) from pg_class c join pg_namespace n "
                    "on n.oid = c.relnamespace where n.nspname = %s and c.relname = %s "
                    "and c.relkind = 'v'",
                    (schema, view),
                ).fetchone()
                if row is None or schema not in names:
                    raise StepError(f"{schema}.{view} is not live")
                definition = qualified.sub(lambda m: m.group(1) + BUILD_SUFFIX + ".", row[0])
                conn.execute(
                    sql.SQL("create view {} as ").format(
                        sql.Identifier(schema + BUILD_SUFFIX, view)
                    )
                    + sql.SQL(definition)
                )

    @property
    def lock_timeout_ms(self) -> int:
        if self._lock_timeout_ms is None:
            row = self.conn.execute(
                "select setting::int from pg_settings where name = 'deadlock_timeout'"
            ).fetchone()
            deadlock_ms = row[0] if row else 1000
            self._lock_timeout_ms = max(20, min(SWAP_LOCK_TIMEOUT_MS, deadlock_ms // 2))
        return self._lock_timeout_ms

    def drop_schema(self, name: str, wait_s: float = DROP_MAX_WAIT_S) -> bool:
        """Drop a scratch schema, waiting (without blocking readers) for its users to finish."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with self.conn.transaction():
                    self.conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                    self.conn.execute(
                        sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(name))
                    )
                return True
            except psycopg.errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    log.warning("could not drop %s: still in use", name)
                    return False
                time.sleep(0.2)

    def swap(self) -> dict[str, Any]:
        conn = self.conn
        layers = [
            s for s in LAYER_SCHEMAS if self.layered and schema_exists(conn, s + BUILD_SUFFIX)
        ]
        if not schema_exists(conn, BUILD_SCHEMA):
            msg = (
                f"dbt created no {BUILD_SCHEMA} schema (the project ignores the marts_suffix "
                "var): the marts were built in place, without the atomic swap"
            )
            self.say("        warning: " + msg)
            return {"swap": "in_place", "warning": msg}
        try:
            still_ours = run_lock_held(conn, mine=True)
        except psycopg.Error:
            still_ours = False
        if not still_ours:
            raise StepError("lost the refresh lock (database connection dropped): not swapping")
        for schema in (MARTS_SCHEMA, *layers):
            if not self.drop_schema(schema + OLD_SUFFIX):
                raise StepError(
                    f"{schema + OLD_SUFFIX} from an earlier swap is still in use: not swapping"
                )
        removed = sorted(relations(conn, MARTS_SCHEMA) - relations(conn, BUILD_SCHEMA))
        deadline = time.monotonic() + SWAP_MAX_WAIT_S
        attempts = 0
        while True:
            attempts += 1
            try:
                with conn.transaction():
                    conn.execute(f"set local lock_timeout = '{self.lock_timeout_ms}ms'")
                    # Odd attempts take every lock at once or none (never wait holding
                    # some); even ones queue for them, so busy marts cannot starve us.
                    granted = self.swap_once(nowait=attempts % 2 == 1, layers=layers)
                break
            except psycopg.errors.LockNotAvailable:
                if time.monotonic() >= deadline:
                    raise StepError(
                        f"could not swap {BUILD_SCHEMA} into {MARTS_SCHEMA} within "
                        f"{SWAP_MAX_WAIT_S}s: readers kept the marts busy; previous marts kept"
                    ) from None
                time.sleep(min(1.0, 0.02 * attempts) * random.uniform(0.5, 1.5))
        dropped = all([self.drop_schema(s + OLD_SUFFIX) for s in (MARTS_SCHEMA, *layers)])
        log.debug("swapped %s -> %s", BUILD_SCHEMA, MARTS_SCHEMA)
        details: dict[str, Any] = {"swap": "swapped", "swap_attempts": attempts}
        if layers:
            details["layers_swapped"] = layers
        details["api_grants"] = granted
        if removed:
            details["relations_removed"] = removed
        if not dropped:
            details["warning"] = "a previous schema (*__old) is still in use; dropped next time"
        return details

    def swap_once(self, nowait: bool = False, layers: list[str] | tuple[str, ...] = ()) -> bool:
        """Inside the swap transaction: lock the old marts, rename twice per schema, grant."""
        conn = self.conn
        for schema in layers:  # staging, intermediate, seeds: read by dbt and analysts only
            if schema_exists(conn, schema):
                conn.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(schema), sql.Identifier(schema + OLD_SUFFIX)
                    )
                )
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(schema + BUILD_SUFFIX), sql.Identifier(schema)
                )
            )
        if schema_exists(conn, MARTS_SCHEMA):
            # Tables and views: a reader that looked up an old relation before the rename
            # waits for this lock, then looks the name up again and gets the new one, so
            # no statement mixes old and new marts. Locking a view also locks what it
            # reads (e.g. qbr_app.manual_metrics) for these few milliseconds. Views first:
            # readers mostly enter through them, so we queue where they queue.
            marts = sorted(relations(conn, MARTS_SCHEMA, "v"))
            marts += sorted(relations(conn, MARTS_SCHEMA, "rpm"))
            if marts:
                conn.execute(
                    sql.SQL("lock table {} in access exclusive mode{}").format(
                        sql.SQL(", ").join(sql.Identifier(MARTS_SCHEMA, r) for r in marts),
                        sql.SQL(" nowait" if nowait else ""),
                    )
                )
            conn.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(MARTS_SCHEMA), sql.Identifier(OLD_SCHEMA)
                )
            )
        conn.execute(
            sql.SQL("alter schema {} rename to {}").format(
                sql.Identifier(BUILD_SCHEMA), sql.Identifier(MARTS_SCHEMA)
            )
        )
        grant_read(conn, schema=MARTS_SCHEMA)
        return True
