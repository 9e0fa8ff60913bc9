"""The ingestion floor: the ConnectWise pages a full refresh reads, fetched with
plain HTTP (requests, one thread per resource as dlt extracts them in parallel)
and COPYed with psycopg into `bench_floor.<resource>(id, doc jsonb)`: what
fetching and storing the same records costs with no framework at all. The
refresh's own rate comes from its run log (rows loaded over extract +
normalize + load of the ConnectWise step).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests
from psycopg import sql

from dlt_pipelines.connectwise.settings import CW_ACCEPT, CW_PAGE_SIZE, CW_RESOURCES

SCHEMA = "bench_floor"
FROM_EPOCH = "lastUpdated >= [1970-01-01T00:00:00Z]"


def _resource(url: str, creds: dict, db_url: str, name: str, path: str) -> dict:
    session = requests.Session()
    session.auth = (f"{creds['company_id']}+{creds['public_key']}", creds["private_key"])
    session.headers.update(
        {"clientId": creds["client_id"], "Accept": CW_ACCEPT, "pagination-type": "forward-only"}
    )
    rows = pages = 0
    table = sql.Identifier(SCHEMA, name)
    next_url: str | None = url.rstrip("/") + "/" + path
    params: dict | None = {"pageSize": CW_PAGE_SIZE, "conditions": FROM_EPOCH}
    with psycopg.connect(db_url) as conn:
        conn.execute(sql.SQL("create table {} (id bigint, doc jsonb)").format(table))
        with conn.cursor() as cur:
            copy_sql = sql.SQL("copy {} (id, doc) from stdin").format(table)
            while next_url:
                response = session.get(next_url, params=params, timeout=120)
                response.raise_for_status()
                records = response.json()
                pages += 1
                if records:
                    with cur.copy(copy_sql) as copy:
                        for record in records:
                            copy.write_row((record.get("id"), json.dumps(record)))
                    rows += len(records)
                next_url = response.links.get("next", {}).get("url")
                params = None  # the Link header repeats every parameter
        conn.commit()
    return {"rows": rows, "pages": pages}


def measure(sandbox_state: dict, db_url: str) -> dict:
    """Fetch + COPY every ConnectWise resource in full; rows, pages, seconds, rows/s."""
    url = sandbox_state["urls"]["connectwise"]
    creds = sandbox_state["credentials"]["connectwise"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(SCHEMA)))
    started = time.perf_counter()
    with ThreadPoolExecutor(len(CW_RESOURCES)) as pool:
        futures = {
            name: pool.submit(_resource, url, creds, db_url, name, path)
            for name, path in CW_RESOURCES.items()
        }
        per_resource = {name: f.result() for name, f in futures.items()}
    seconds = time.perf_counter() - started
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(SCHEMA)))
    rows = sum(r["rows"] for r in per_resource.values())
    return {
        "rows": rows,
        "pages": sum(r["pages"] for r in per_resource.values()),
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1) if seconds else 0.0,
        "per_resource": per_resource,
    }
