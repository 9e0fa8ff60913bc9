"""Fixtures for the refresh tests: a throwaway database and a tiny stand-in dbt project.

The stand-in has what the swap needs and nothing else: two marts built into
`qbr{{ var('marts_suffix', '') }}` (like the real project), a test that fails
when asked (`fail_test` var), a version label and size (`version`, `rows`) to
tell old marts from new, `break_sql` for a database error, and a `sleep` var that makes the build slow enough to
read, trigger or kill in the middle of it.
"""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from qbr.app import refresh
from qbr.dbt_runner import DBT_PROJECT_DIR
from qbr.settings import Settings

STANDIN_FILES = {
    "dbt_project.yml": """
        name: standin
        version: "1.0.0"
        config-version: 2
        profile: qbr
        model-paths: ["models"]
        test-paths: ["tests"]
        macro-paths: ["macros"]
        target-path: "target"
        flags:
          send_anonymous_usage_stats: false
        vars:
          marts_suffix: ""
          version: "v1"
          rows: 3
          sleep: 0
          fail_test: false
          break_sql: false
        models:
          standin:
            +schema: qbr
            +materialized: table
    """,
    "macros/generate_schema_name.sql": """
        {% macro generate_schema_name(custom_schema_name, node) -%}
            {%- if custom_schema_name is none or custom_schema_name | trim == 'qbr' -%}
                qbr{{ var('marts_suffix', '') }}
            {%- else -%}
                {{ custom_schema_name | trim }}
            {%- endif -%}
        {%- endmacro %}
    """,
    # Slow on purpose (sleep var) so the build can be observed in the middle.
    "models/mart_rows.sql": """
        select
            n as id,
            '{{ var("version") }}'::text as version
        from generate_series(1, {{ var("rows") }}) as n
        cross join (select pg_sleep({{ var("sleep") }})) as slow
    """,
    "models/mart_summary.sql": """
        select
            count(*) as row_count,
            max(version) as version
        from {{ ref('mart_rows') }}
        {% if var('break_sql') %} join no_such_table on true {% endif %}
    """,
    # A view over a table, joined in readers' queries with the other mart.
    "models/mart_view.sql": """
        {{ config(materialized='view') }}
        select count(*) as row_count, min(version) as version from {{ ref('mart_rows') }}
    """,
    "models/_models.yml": """
        version: 2
        models:
          - name: mart_rows
            columns:
              - name: id
                data_tests: [unique, not_null]
    """,
    "tests/fails_when_asked.sql": """
        select 1 as failure where {{ var('fail_test') }}
    """,
}


@pytest.fixture(scope="session")
def standin_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("standin_dbt")
    for rel, text in STANDIN_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", root / "profiles.yml")
    return root


@pytest.fixture
def rdb(make_database) -> Settings:
    """A fresh migrated database per test: run logs and marts never leak between tests."""
    return make_database("qbr_refresh")


@pytest.fixture
def fake_sources(monkeypatch) -> dict[str, Callable]:
    """Replace the pipelines with in-process fakes: {source name: callable(full, since)}."""
    fakes: dict[str, Callable] = {}

    def load(settings, name, full, since):
        if name not in fakes:
            raise RuntimeError(f"source {name} is not configured")
        return fakes[name](full, since)

    monkeypatch.setattr(refresh.run, "_load_source", load)
    return fakes


def query(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(settings.url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(predicate: Callable[[], object], timeout: float = 120, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
