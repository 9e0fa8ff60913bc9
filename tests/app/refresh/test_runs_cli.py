"""`qbr runs` and `qbr runs <batch_id>`: the run log for an operator."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from qbr.app import refresh, runs
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


def test_runs_shows_where_a_run_spent_its_time(rdb, standin_project, fake_sources, capsys):
    """Per-phase and per-resource timings a source step reports are kept in the
    run log and printed by `qbr runs <batch_id>`."""
    checks = {
        "tickets": {
            "how": "sweep (count differs)", "requests": 9, "pages": 1, "rows_read": 12,
            "read_s": 0.4, "source_count": 4100, "live_after_load": 4101, "sweep_pages": 5,
            "check_s": 1.25, "swept_ranges": 3,
        },
        "members": {"how": "count equal", "requests": 2, "pages": 1, "rows_read": 0,
                    "read_s": 0.05, "source_count": 20, "live_after_load": 20, "check_s": 0.02},
    }  # fmt: skip
    phases = {"extract": 3.5, "normalize": 1.25, "load": 2.0, "deletions": 0.5}
    fake_sources["connectwise"] = lambda full, since: (
        12,
        {"phases": phases, "deletion_checks": checks, "normalize_workers": 2},
    )
    run = refresh.run_refresh(
        rdb, sources=["connectwise"], trigger="test", echo=False, project_dir=standin_project
    )
    stored = runs.fetch_run(rdb, run.batch_id)["steps"][0]["details"]
    assert stored["phases"] == phases and stored["deletion_checks"] == checks
    assert runs.main(rdb, argparse.Namespace(batch_id=run.batch_id, limit=10)) == 0
    out = capsys.readouterr().out
    assert (
        "connectwise phases: extract 3.5s, normalize 1.2s, load 2.0s, deletions 0.5s "
        "(normalize in 2 process(es))"
    ) in out
    assert (
        "tickets        9 requests, 1 pages, 12 rows read in 0.4s, deletions: sweep (count "
        "differs), count 4100 vs live 4101, 5 sweep pages, 3 id ranges swept, check 1.2s"
    ) in out
    assert "members        2 requests, 1 pages, 0 rows read in 0.1s, deletions: count equal" in out


def test_dbt_nodes_over_a_second_come_from_run_results(tmp_path):
    from qbr import timings

    (tmp_path / "run_results.json").write_text(
        '{"elapsed_time": 9.87, "results": ['
        '{"unique_id": "model.qbr.int_devices_classified", "execution_time": 12.34},'
        '{"unique_id": "model.qbr.stg_tickets", "execution_time": 0.4},'
        '{"unique_id": "test.qbr.not_null_x.abc", "execution_time": 2.06}]}'
    )
    got = timings.dbt_node_timings({"DBT_TARGET_PATH": str(tmp_path)})
    assert got == {
        "nodes_s": 14.8,
        "dbt_elapsed_s": 9.9,  # dbt's own wall time, first node to last
        "slow_nodes": {"int_devices_classified": 12.3, "not_null_x.abc": 2.1},
    }
    assert list(got["slow_nodes"]) == ["int_devices_classified", "not_null_x.abc"]
    lines = timings.format_step_timings({"name": "dbt_build", "details": got})
    assert lines[0] == "  dbt_build nodes over 1s (all nodes 14.8s):"
    assert timings.dbt_node_timings({"DBT_TARGET_PATH": str(tmp_path / "none")}) == {}


def _run_with_build(details: dict) -> dict:
    when = datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    step = {
        "name": "dbt_build", "status": "succeeded", "rows_loaded": None, "rows_rejected": None,
        "duration_ms": 90, "started_at": when, "finished_at": when, "error": None,
        "details": details,
    }  # fmt: skip
    return {
        "batch_id": "bc_x", "status": "succeeded", "progress": 100, "created_at": when,
        "started_at": when, "finished_at": when, "trigger": "schedule", "requested_by": None,
        "steps": [step], "anomaly_flags": [], "options": {}, "pid": 7,
    }  # fmt: skip


def test_runs_says_why_the_dbt_step_skipped_or_rebuilt():
    """The build decision kept on the dbt step (qbr.dbt_runner.decide_build) is printed."""
    tz = ZoneInfo("UTC")
    skipped = runs.format_run(
        _run_with_build({"build_skipped": True, "skip_reason": "nothing dbt reads changed"}),
        tz,
        full=True,
    )
    assert "  dbt_build: skipped: nothing dbt reads changed" in skipped
    rebuilt = runs.format_run(
        _run_with_build({"build_reason": "raw rows changed", "full_refresh": "rules changed"}),
        tz,
        full=True,
    )
    assert "  dbt_build: built: raw rows changed" in rebuilt
    assert "  dbt_build: full rebuild: rules changed" in rebuilt
    assert not any("skipped" in line for line in rebuilt)
    data_only = runs.format_run(
        _run_with_build(
            {
                "build_reason": "changed: raw",
                "build_mode": "data-only",
                "build_mode_reason": "the rules are the last good build's",
                "dbt_models_run": ["clients", "periods"],
                "dbt_tests_run": 5,
                "dbt_tests_not_rerun": 3,
                "relations_kept": {"views": ["qbr_staging.stg_a"], "seeds": 2},
                "phases": {"fingerprint": 0.5, "prepare": 1.25, "dbt": 4.0, "swap": 0.1},
            }
        ),
        tz,
        full=True,
    )
    assert "  dbt_build: data-only: the rules are the last good build's" in data_only
    assert (
        "  dbt_build: ran 2 models, 5 tests; kept 1 views, 2 seeds; 3 seed tests not re-run"
        in data_only
    )
    assert "  dbt_build phases: fingerprint 0.5s, prepare 1.2s, dbt 4.0s, swap 0.1s" in data_only


def test_overlapped_phases_are_shown_in_the_order_they_happen():
    from qbr.timings import format_step_timings

    step = {
        "name": "dbt_build",
        "details": {
            "phases": {
                "swap": 0.1,
                "fingerprint (during dbt)": 1.2,
                "dbt": 5.0,
                "prepare": 0.1,
                "prepare (during sources)": 0.9,
            }
        },
    }
    assert format_step_timings(step) == [
        "  dbt_build phases: prepare (during sources) 0.9s, prepare 0.1s, dbt 5.0s, "
        "fingerprint (during dbt) 1.2s, swap 0.1s"
    ]


def test_one_phase_clock_for_sources_and_the_build():
    from qbr.timings import PhaseClock

    clock = PhaseClock()
    clock.record("prepare (during sources)", 1.25)
    clock.record("prepare (during sources)", 0.5)  # parts of one phase add up
    clock.lap("dbt")
    clock.restart()
    clock.lap("swap")
    assert clock.phases["prepare (during sources)"] == 1.75
    assert list(clock.phases) == ["prepare (during sources)", "dbt", "swap"]
    assert all(isinstance(v, float) and v >= 0 for v in clock.phases.values())
