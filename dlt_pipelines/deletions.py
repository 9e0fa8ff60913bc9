"""Marking records that disappeared at the source (`_deleted_at`), never deleting them.

Sources report deletions two ways:
- a *sweep*: every id that still exists (ConnectWise `fields=id`, QuickBooks
  `SELECT Id`); rows whose id is not among them are gone;
- a *change feed*: ids reported deleted (QuickBooks CDC `"status": "Deleted"`).

Resources fill a `Deletions` collector while they extract (so a failed check
fails the extract, and nothing loads); `apply()` stamps the raw tables after
the load succeeded, in one transaction. A record that comes back (or was
marked by mistake) loses its mark on the next sweep that sees it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql

from dlt_pipelines.constants import DELETED_AT

log = logging.getLogger("dlt_pipelines.deletions")

#: a sweep that would mark more than this share of the live rows is suspicious
#: (a permission change, an API glitch): it is skipped and reported instead
MAX_SWEEP_SHARE = 0.5
#: ... unless it concerns only this many rows
SWEEP_SHARE_FLOOR = 10


@dataclass
class Deletions:
    """What the extract learned about deletions, per raw table."""

    present: dict[str, set[Any]] = field(default_factory=dict)
    gone: dict[str, dict[Any, datetime | None]] = field(default_factory=dict)
    id_columns: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def swept(self, table: str, ids: set[Any], id_column: str = "id") -> None:
        with self._lock:
            self.present[table] = set(ids)
            self.id_columns[table] = id_column

    def reported_gone(
        self, table: str, ids: dict[Any, datetime | None], id_column: str = "id"
    ) -> None:
        with self._lock:
            self.gone.setdefault(table, {}).update(ids)
            self.id_columns[table] = id_column

    @property
    def empty(self) -> bool:
        return not self.present and not self.gone


def _table_exists(conn: Any, schema: str, table: str) -> bool:
    row = conn.execute(
        "select 1 from information_schema.columns "
        "where table_schema = %s and table_name = %s and column_name = %s",
        (schema, table, DELETED_AT),
    ).fetchone()
    return row is not None


def apply(url: str, schema: str, deletions: Deletions) -> dict[str, Any]:
    """Stamp `_deleted_at` (and clear it for ids seen again); one transaction.

    Returns {"marked": n, "restored": n, "tables": {...}, "skipped": {...}}.
    """
    import psycopg

    result: dict[str, Any] = {"marked": 0, "restored": 0, "tables": {}, "skipped": {}}
    if deletions.empty:
        return result
    with psycopg.connect(url) as conn, conn.transaction():
        for table in sorted(set(deletions.present) | set(deletions.gone)):
            if not _table_exists(conn, schema, table):
                continue
            ident = sql.Identifier(schema, table)
            id_col = sql.Identifier(deletions.id_columns.get(table, "id"))
            marked = restored = 0
            if table in deletions.present:
                ids = sorted(deletions.present[table], key=str)
                live = conn.execute(
                    sql.SQL("select count(*) from {} where {} is null").format(
                        ident, sql.Identifier(DELETED_AT)
                    )
                ).fetchone()[0]
                missing = [
                    r[0]
                    for r in conn.execute(
                        sql.SQL(
                            "select {id} from {t} where {d} is null and not ({id} = any(%s))"
                        ).format(id=id_col, t=ident, d=sql.Identifier(DELETED_AT)),
                        (ids,),
                    )
                ]
                too_many = len(missing) > max(SWEEP_SHARE_FLOOR, MAX_SWEEP_SHARE * live)
                if missing and (not ids or too_many):
                    reason = (
                        f"sweep found {len(ids)} ids but {len(missing)} of {live} live rows "
                        "are missing from it: not marked (check the API user's permissions)"
                    )
                    log.warning("%s.%s: %s", schema, table, reason)
                    result["skipped"][table] = reason
                else:
                    if missing:
                        marked += conn.execute(
                            sql.SQL("update {t} set {d} = now() where {id} = any(%s)").format(
                                t=ident, d=sql.Identifier(DELETED_AT), id=id_col
                            ),
                            (missing,),
                        ).rowcount
                    restored += conn.execute(
                        sql.SQL(
                            "update {t} set {d} = null where {d} is not null and {id} = any(%s)"
                        ).format(t=ident, d=sql.Identifier(DELETED_AT), id=id_col),
                        (ids,),
                    ).rowcount
            for record_id, when in deletions.gone.get(table, {}).items():
                marked += conn.execute(
                    sql.SQL(
                        "update {t} set {d} = coalesce(%s, now()) where {id} = %s and {d} is null"
                    ).format(t=ident, d=sql.Identifier(DELETED_AT), id=id_col),
                    (when, record_id),
                ).rowcount
            result["marked"] += marked
            result["restored"] += restored
            if marked or restored:
                result["tables"][table] = {"marked": marked, "restored": restored}
    return result
