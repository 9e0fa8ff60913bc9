"""`qbr runs` and `qbr runs <batch_id>`: the run log for an operator."""

from __future__ import annotations

import argparse

import pytest

from qbr import refresh, runs
from qbr.errors import QbrError


def test_runs_lists_recent_runs_with_steps_and_shows_one(
    rdb, standin_project, fake_sources, capsys
):
    fake_sources["connectwise"] = lambda full, since: (1234, {})

    def broken(full, since):
        raise RuntimeError("token expired\nsecond line")

    fake_sources["quickbooks"] = broken
    partial = refresh.run_refresh(
        rdb,
        sources=["connectwise", "quickbooks"],
        trigger="test",
        echo=False,
        project_dir=standin_project,
    )
    failed = refresh.run_refresh(
        rdb,
        sources=[],
        trigger="test",
        echo=False,
        project_dir=standin_project,
        dbt_vars={"fail_test": True},
    )

    assert runs.main(rdb, argparse.Namespace(batch_id=None, limit=10)) == 0
    listing = capsys.readouterr().out
    assert listing.index(failed.batch_id) < listing.index(partial.batch_id)  # newest first
    assert "partial" in listing and "1,234 rows" in listing
    assert "token expired" in listing and "second line" not in listing
    assert "dbt build failed: Failure in test fails_when_asked" in listing

    assert runs.main(rdb, argparse.Namespace(batch_id=failed.batch_id, limit=10)) == 0
    detail = capsys.readouterr().out
    assert partial.batch_id not in detail
    assert "Got 1 result, configured to fail if != 0" in detail  # the full dbt error
    assert "anomaly flags" in detail

    runs.main(rdb, argparse.Namespace(batch_id=None, limit=1))
    assert partial.batch_id not in capsys.readouterr().out

    data = runs.fetch_run(rdb, partial.batch_id)
    assert [s["name"] for s in data["steps"]] == ["connectwise", "quickbooks", "dbt_build"]


def test_runs_on_an_empty_log_and_an_unknown_batch(rdb, capsys):
    assert runs.main(rdb, argparse.Namespace(batch_id=None, limit=10)) == 0
    assert "No refresh runs yet" in capsys.readouterr().out
    with pytest.raises(QbrError, match="No refresh run"):
        runs.main(rdb, argparse.Namespace(batch_id="bc_nope", limit=10))
