"""Data versions: ETags and the response cache are keyed on what can change a read.

A read of the marts can change only when the `qbr` schema is swapped (its oid
changes) or a relation in it is rebuilt in place (a plain `dbt build`: new
relation oids), when a refresh finishes, or when a manual entry or a threshold
is written (the marts' views read qbr_app live). One cheap query (catalogue
and index lookups) returns all of that; it rides along with the API-key
lookup so a cached GET costs a single round trip. A client that sends the tag
back in If-None-Match gets 304 without any data query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import psycopg

#: Bump when response shapes change, so older cached bodies are not reused.
SHAPE_VERSION = "1"

STATE_COLUMNS = """
    (select oid from pg_namespace where nspname = 'qbr')::text as marts_oid,
    (select max(oid) from pg_class
     where relnamespace = (select oid from pg_namespace where nspname = 'qbr'))::text
        as marts_relations,
    (select max(finished_at) from qbr_app.refresh_runs)::text as refreshed,
    (select max(id) from qbr_app.manual_metrics)::text as manual,
    (select coalesce(max(updated_at)::text, '') || '/' || count(*) from qbr_app.thresholds)
        as thresholds
"""
STATE_WIDTH = 5


def tag_from(values: Iterable) -> str:
    state = "|".join([SHAPE_VERSION, *(str(v) for v in values)])
    return hashlib.sha256(state.encode()).hexdigest()[:32]


def current(conn: psycopg.Connection) -> str:
    row = conn.execute("select " + STATE_COLUMNS).fetchone()
    return tag_from(row.values() if isinstance(row, dict) else row)
