"""docs/contributing/add-a-source.md, done once: a new source is its package plus one
registry entry, and then `qbr sources`, the API's source check, the refresh's plan
and its source step all pick it up (the dbt staging folder is the third place; the
stand-in dbt project here has none to need).

The package is written to a temporary directory, exactly as the guide's step 1
describes, and loads rows into a real raw table of the throwaway database.
"""

from __future__ import annotations

import json
import textwrap
from datetime import date

import pytest

from api.views.refresh import known_sources
from qbr import sources
from qbr.app import cli, refresh
from tests.app.refresh.conftest import query

PACKAGE = '''
"""A tiny CRM: what the guide's step 1 asks of a source package."""

from dataclasses import dataclass, field

import psycopg

calls = []


@dataclass
class LoadResult:
    rows_loaded: int
    details: dict = field(default_factory=dict)


def run(settings, config, *, full=False, since=None):
    """The registry's uniform entry point: load, then say how many rows."""
    calls.append((dict(config or {}), full, since))
    with psycopg.connect(settings.url, autocommit=True) as conn:
        conn.execute("create schema if not exists raw_fake_crm")
        conn.execute("create table if not exists raw_fake_crm.contacts (id int primary key)")
        rows = conn.execute(
            "insert into raw_fake_crm.contacts select generate_series(1, 7) "
            "on conflict do nothing"
        ).rowcount
    return LoadResult(rows, {"rows_rejected": 0})
'''


@pytest.fixture
def fake_crm(tmp_path, monkeypatch):
    """Step 1 (the package) and step 2 (the registry entry) of the guide."""
    (tmp_path / "fake_crm").mkdir()
    (tmp_path / "fake_crm" / "__init__.py").write_text(textwrap.dedent(PACKAGE))
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = sources.Source(
        name="fake_crm",
        label="Fake CRM",
        package="fake_crm",
        settings=("base_url", "api_key"),
    )
    monkeypatch.setitem(sources.REGISTRY, "fake_crm", entry)
    for key in ("BASE_URL", "API_KEY"):
        monkeypatch.delenv(f"SOURCES__FAKE_CRM__{key}", raising=False)
    import fake_crm as package

    package.calls.clear()
    return package


def listed(settings, monkeypatch, capsys) -> dict:
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    assert cli.main(["sources", "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_a_new_source_is_listed_planned_and_loaded(
    fake_crm, rdb, standin_project, monkeypatch, capsys
):
    settings = rdb.model_copy(update={"sources": "fake_crm"})

    # listed, with the settings it needs, and not loaded until they are set
    row = listed(settings, monkeypatch, capsys)["fake_crm"]
    assert (row["label"], row["loads_by_default"], row["configured_by"]) == (
        "Fake CRM",
        False,
        "not configured",
    )
    assert row["settings"] == ["SOURCES__FAKE_CRM__BASE_URL", "SOURCES__FAKE_CRM__API_KEY"]
    assert "fake_crm" in known_sources()  # POST /refresh accepts it by name
    assert sources.configured_sources(settings) == []

    monkeypatch.setenv("SOURCES__FAKE_CRM__BASE_URL", "https://crm.example/api/")
    monkeypatch.setenv("SOURCES__FAKE_CRM__API_KEY", "k-123")
    row = listed(settings, monkeypatch, capsys)["fake_crm"]
    assert (row["loads_by_default"], row["configured_by"]) == (True, "settings")
    assert row["where"] == "https://crm.example/api/"

    # a plain refresh plans it before the build and runs it through its package
    run = refresh.run_refresh(
        settings, trigger="test", echo=False, project_dir=standin_project, since="2025-03"
    )
    assert run.status == "succeeded"
    assert fake_crm.calls == [
        ({"base_url": "https://crm.example/api/", "api_key": "k-123"}, False, date(2025, 3, 1))
    ]
    assert query(
        settings,
        "select name, kind, status, rows_loaded, rows_rejected, details->>'since' "
        "from qbr_app.refresh_steps where batch_id = %s order by step_order",
        (run.batch_id,),
    ) == [
        ("fake_crm", "source", "succeeded", 7, 0, "2025-03-01"),
        ("dbt_build", "build", "succeeded", None, None, None),
    ]
    assert query(settings, "select count(*) from raw_fake_crm.contacts") == [(7,)]


def test_every_registered_source_has_a_package_with_run():
    """The registry names importable packages (what `qbr.app.sources` imports)."""
    import importlib
    import inspect

    assert sources.names() == ("connectwise", "quickbooks", "quickbooks_desktop", "ninjaone")
    for source in sources.REGISTRY.values():
        assert source.package == f"dlt_pipelines.{source.name}"
        run = importlib.import_module(source.package).run
        params = inspect.signature(run).parameters
        assert list(params)[:2] == ["settings", "config"], source.name
        assert {"full", "since"} <= set(params), source.name
