"""Sources load side by side, each in a thread of its own (`QBR_SOURCE_CONCURRENCY`).

What a run reports stays true: each step's status, times, rows and error; a
failing source leaves the others' loads; an interrupt (SIGTERM) stops the
sources still loading and records them; sources that land in one raw schema
(QuickBooks Online and the Desktop import) never load at the same time. Over
real HTTP (the `small` sandbox) two sources side by side land exactly what
they land one after the other.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from types import SimpleNamespace

import pytest
from dlt.common.runtime import signals as dlt_signals
from psycopg.types.json import Jsonb

from qbr import progress
from qbr.app import refresh
from qbr.app.refresh import run as refresh_run
from qbr.app.refresh.errors import RefreshInterrupted
from qbr.refresh.runlog import Step
from sandbox.msp import generate
from sandbox.servers.runner import Sandbox
from tests.app.refresh.conftest import query, wait_for
from tests.dlt_pipelines.conftest import FAST_HTTP, TODAY, cw_config, qbo_config


def run(settings, project, sources, **kwargs):
    return refresh.run_refresh(
        settings, sources=sources, trigger="test", echo=False, project_dir=project, **kwargs
    )


def step_rows(settings, batch_id):
    return query(
        settings,
        "select name, status, rows_loaded, split_part(coalesce(error, ''), E'\\n', 1), "
        "started_at, finished_at from qbr_app.refresh_steps where batch_id = %s "
        "order by step_order",
        (batch_id,),
    )


def overlap(a, b) -> bool:
    """Two run-log steps (…, started_at, finished_at) ran at the same time."""
    return a[-2] < b[-1] and b[-2] < a[-1]


def test_sources_load_side_by_side_and_each_records_its_own_outcome(
    rdb, standin_project, fake_sources, monkeypatch
):
    monkeypatch.delenv("QBR_SOURCE_CONCURRENCY", raising=False)
    both = threading.Barrier(2, timeout=30)  # one after the other: a BrokenBarrierError

    def connectwise(full, since):
        both.wait()
        time.sleep(0.3)
        raise RuntimeError("ConnectWise: HTTP 500 from /service/tickets")

    def quickbooks(full, since):
        both.wait()
        time.sleep(0.6)
        return 30, {"rows_rejected": 2, "tables": {"invoices": 30}}

    fake_sources.update(connectwise=connectwise, quickbooks=quickbooks)
    result = run(rdb, standin_project, ["connectwise", "quickbooks"])

    assert result.status == "partial"
    assert result.error == "connectwise: ConnectWise: HTTP 500 from /service/tickets"
    cw, qb, build = step_rows(rdb, result.batch_id)
    assert cw[:4] == ("connectwise", "failed", None, "ConnectWise: HTTP 500 from /service/tickets")
    assert qb[:4] == ("quickbooks", "succeeded", 30, "")
    assert build[:2] == ("dbt_build", "succeeded")
    assert overlap(cw, qb)
    assert build[-2] >= max(cw[-1], qb[-1])  # the build starts after both
    [(details,)] = query(
        rdb,
        "select details from qbr_app.refresh_steps where batch_id = %s and name = 'quickbooks'",
        (result.batch_id,),
    )
    assert details == {"rows_rejected": 2, "tables": {"invoices": 30}}
    assert query(rdb, "select row_count from qbr.mart_summary") == [(3,)]


def test_one_at_a_time_with_source_concurrency_1(rdb, standin_project, fake_sources, monkeypatch):
    monkeypatch.setenv("QBR_SOURCE_CONCURRENCY", "1")
    seen: list[str] = []

    def source(name):
        def load(full, since):
            seen.append(f"{name} in {threading.current_thread() is threading.main_thread()}")
            time.sleep(0.2)
            return 1, {}

        return load

    fake_sources.update(connectwise=source("connectwise"), quickbooks=source("quickbooks"))
    result = run(rdb, standin_project, ["connectwise", "quickbooks"])
    assert result.status == "succeeded"
    assert seen == ["connectwise in True", "quickbooks in True"]  # the main thread, in order
    cw, qb, _build = step_rows(rdb, result.batch_id)
    assert not overlap(cw, qb)


def test_sources_of_one_raw_schema_share_a_lane(rdb, standin_project, fake_sources, monkeypatch):
    """QuickBooks Online and the Desktop import both write raw_quickbooks: one after the
    other, beside ConnectWise."""
    monkeypatch.delenv("QBR_SOURCE_CONCURRENCY", raising=False)
    steps = [Step("connectwise", "source"), Step("quickbooks", "source")]
    steps += [Step("quickbooks_desktop", "source"), Step("ninjaone", "source")]
    lanes = refresh_run._lanes(list(enumerate(steps)))
    assert [[s.name for _, s in lane] for lane in lanes] == [
        ["connectwise"],
        ["quickbooks", "quickbooks_desktop"],
        ["ninjaone"],
    ]
    cw_running = threading.Event()

    def connectwise(full, since):
        cw_running.set()
        time.sleep(1.0)
        return 1, {}

    def quickbooks(full, since):
        assert cw_running.wait(30)
        return 2, {}

    fake_sources.update(
        connectwise=connectwise, quickbooks=quickbooks, quickbooks_desktop=lambda f, s: (3, {})
    )
    result = run(rdb, standin_project, ["connectwise", "quickbooks", "quickbooks_desktop"])
    assert result.status == "succeeded"
    cw, qb, desk, _build = step_rows(rdb, result.batch_id)
    assert [r[:3] for r in (cw, qb, desk)] == [
        ("connectwise", "succeeded", 1),
        ("quickbooks", "succeeded", 2),
        ("quickbooks_desktop", "succeeded", 3),
    ]
    assert overlap(cw, qb) and overlap(cw, desk)
    assert qb[-1] <= desk[-2]  # the desktop import after QuickBooks Online, never beside


def test_sigterm_while_two_sources_load_stops_both_and_records_each(
    rdb, standin_project, fake_sources, monkeypatch
):
    """SIGTERM reaches the main thread, which waits; the sources loading in their threads
    stop at dlt's next signal check; a source that finished keeps its success."""
    monkeypatch.delenv("QBR_SOURCE_CONCURRENCY", raising=False)
    fake_sources["connectwise"] = lambda full, since: (3, {})
    fake_sources["quickbooks"] = lambda full, since: (4, {})
    assert run(rdb, standin_project, ["connectwise", "quickbooks"]).status == "succeeded"
    stopped: list[str] = []
    entered = {"connectwise": threading.Event(), "ninjaone": threading.Event()}

    def loading_until_stopped(name):
        def load(full, since):
            entered[name].set()
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline:
                    dlt_signals.raise_if_signalled()  # as dlt's extract, normalize and load
                    time.sleep(0.02)
            except BaseException as exc:
                stopped.append(f"{name}: {type(exc).__name__}")
                raise
            raise AssertionError(f"{name} was not stopped")

        return load

    def quickbooks_then_sigterm(full, since):
        def signal_later():
            assert all(e.wait(60) for e in entered.values())  # both loading
            wait_for(lambda: [r for r in step_rows(rdb, batch_id()) if r[1] == "succeeded"])
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=signal_later, daemon=True).start()
        return 4, {}

    def batch_id():
        return query(rdb, "select batch_id from qbr_app.refresh_runs order by created_at desc")[0][
            0
        ]

    fake_sources["connectwise"] = loading_until_stopped("connectwise")
    fake_sources["quickbooks"] = quickbooks_then_sigterm
    fake_sources["ninjaone"] = loading_until_stopped("ninjaone")
    with pytest.raises(RefreshInterrupted):
        run(rdb, standin_project, ["connectwise", "quickbooks", "ninjaone"])
    bid = batch_id()
    assert [r[:4] for r in step_rows(rdb, bid)] == [
        ("connectwise", "failed", None, "interrupted (SIGTERM)"),
        ("quickbooks", "succeeded", 4, ""),
        ("ninjaone", "failed", None, "interrupted (SIGTERM)"),
        ("dbt_build", "skipped", None, ""),
    ]
    assert query(
        rdb, "select status, error from qbr_app.refresh_runs where batch_id = %s", (bid,)
    ) == [("failed", "interrupted (SIGTERM)")]
    assert sorted(stopped) == [
        "connectwise: SignalReceivedException",
        "ninjaone: SignalReceivedException",
    ]
    assert not [t for t in threading.enumerate() if t.name.startswith("qbr refresh")]
    assert not dlt_signals.was_signal_received()  # later pipelines in this process run on
    assert signal.getsignal(signal.SIGTERM) is not refresh_run._SigtermAsInterrupt._raise
    assert query(rdb, "select row_count from qbr.mart_summary") == [(3,)]  # marts kept
    fake_sources["connectwise"] = lambda full, since: (5, {})
    fake_sources["quickbooks"] = lambda full, since: (4, {})
    fake_sources["ninjaone"] = lambda full, since: (6, {})
    again = run(rdb, standin_project, ["connectwise", "quickbooks", "ninjaone"])
    assert again.status == "succeeded", again.error


def test_an_interrupt_inside_one_source_stops_the_other(
    rdb, standin_project, fake_sources, monkeypatch
):
    """Ctrl-C seen inside a source's thread (as dlt raises it there) stops the sources
    beside it too; the run is recorded `interrupted` and the interrupt raised."""
    monkeypatch.delenv("QBR_SOURCE_CONCURRENCY", raising=False)
    quickbooks_loading = threading.Event()
    stopped: list[str] = []

    def connectwise(full, since):
        assert quickbooks_loading.wait(30)
        raise KeyboardInterrupt

    def quickbooks(full, since):
        quickbooks_loading.set()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                dlt_signals.raise_if_signalled()
                time.sleep(0.02)
        except BaseException as exc:
            stopped.append(type(exc).__name__)
            raise
        raise AssertionError("quickbooks was not stopped")

    fake_sources.update(connectwise=connectwise, quickbooks=quickbooks)
    with pytest.raises(KeyboardInterrupt):
        run(rdb, standin_project, ["connectwise", "quickbooks"])
    [(bid, status, error)] = query(
        rdb, "select batch_id, status, error from qbr_app.refresh_runs order by created_at"
    )
    assert (status, error) == ("failed", "interrupted")
    assert [r[:4] for r in step_rows(rdb, bid)] == [
        ("connectwise", "failed", None, "interrupted"),
        ("quickbooks", "failed", None, "interrupted"),
        ("dbt_build", "skipped", None, ""),
    ]
    assert stopped == ["SignalReceivedException"]
    assert not [t for t in threading.enumerate() if t.name.startswith("qbr refresh")]
    assert not dlt_signals.was_signal_received()


def test_progress_of_two_running_sources_reads_one_line_each():
    out = io.StringIO()
    rep = progress.Reporter(stream=out, tty=False, interval=0.05)
    rep.step_started(0, 3, "connectwise", "source")
    rep.step_started(1, 3, "quickbooks", "source")
    counted = threading.Barrier(2, timeout=10)

    def extract(name, pages):
        with rep.collecting(name):
            collector = progress.collector()
            collector(f"Extract ({name})")
            with collector:
                for _ in range(pages):
                    collector.update("items", inc=10)
            counted.wait()
            assert progress.collector() is collector  # its own, in its own thread

    threads = [
        threading.Thread(target=extract, args=("connectwise", 3)),
        threading.Thread(target=extract, args=("quickbooks", 1)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert progress.collector() is None
    deadline = time.monotonic() + 10
    while "quickbooks: 10 rows" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    step = SimpleNamespace(rows_loaded=None, rows_rejected=0, error=None, kind="source")
    rep.step_finished(SimpleNamespace(**vars(step), name="quickbooks", status="succeeded",
                                      duration_ms=1500))  # fmt: skip
    rep.step_finished(SimpleNamespace(**vars(step), name="connectwise", status="succeeded",
                                      duration_ms=2500))  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["  [1/3] connectwise ...", "  [2/3] quickbooks ..."]
    assert any(x.startswith("        connectwise: 30 rows, 3 pages, ") for x in lines)
    assert any(x.startswith("        quickbooks: 10 rows, 1 pages, ") for x in lines)
    finished = [x for x in lines if " succeeded in " in x]
    assert finished == [
        "        quickbooks succeeded in 1.5s, 10 rows, 1 pages",
        "        connectwise succeeded in 2.5s, 30 rows, 3 pages",
    ]
    assert lines[-1] == finished[-1]  # the ticker stopped with the last running step


# --- over real HTTP ------------------------------------------------------------------


RAW_SCHEMAS = ("raw_connectwise", "raw_quickbooks")
#: what differs per load, not what a source landed: dlt's bookkeeping (ids, parents) and
#: the P&L rows' load time
DLT_KEYS = ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id", "loaded_at")


def landed(settings) -> dict[str, list[str]]:
    """Every row of every data table the two sources landed, as sorted JSON texts."""
    tables = query(
        settings,
        "select table_schema, table_name from information_schema.tables "
        "where table_schema = any(%s) and table_type = 'BASE TABLE' "
        "and table_name not like '\\_%%' order by 1, 2",
        (list(RAW_SCHEMAS),),
    )
    drop = " - ".join(f"'{k}'" for k in DLT_KEYS)
    return {
        f"{schema}.{table}": [
            row
            for (row,) in query(
                settings,
                f'select (to_jsonb(t) - {drop})::text as r from "{schema}"."{table}" t order by r',
            )
        ]
        for schema, table in tables
    }


@pytest.fixture(scope="module")
def small_sandbox():
    """The pipeline tests' sandbox (`small`, their fixed day, fast retries)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in FAST_HTTP.items():
            mp.setenv(key, value)
        with Sandbox(generate("small", seed=42, today=TODAY)) as sb:
            yield sb


@pytest.mark.slow
def test_side_by_side_lands_what_one_after_the_other_lands(
    make_database,
    standin_project,
    small_sandbox,
    monkeypatch,
):
    for key, value in cw_config(small_sandbox).items():
        monkeypatch.setenv(f"SOURCES__CONNECTWISE__{key.upper()}", value)
    for key, value in qbo_config(small_sandbox).items():
        monkeypatch.setenv(f"SOURCES__QUICKBOOKS__{key.upper()}", value)
    outcomes = {}
    credentials: list = []
    for concurrency in ("1", "2"):
        monkeypatch.setenv("QBR_SOURCE_CONCURRENCY", concurrency)
        settings = make_database(f"qbr_concur_{concurrency}")
        settings = settings.model_copy(update={"history_start": "2025-01"})
        for source, data in credentials:  # the sandbox rotated QuickBooks' refresh token
            query(
                settings,
                "insert into qbr_app.source_credentials (source, data) values (%s, %s) "
                "returning source",
                (source, Jsonb(data)),
            )
        result = run(settings, standin_project, ["connectwise", "quickbooks"])
        credentials = query(settings, "select source, data from qbr_app.source_credentials")
        assert result.status == "succeeded", result.error
        outcomes[concurrency] = (settings, result, step_rows(settings, result.batch_id))

    (one, one_run, one_steps), (two, two_run, two_steps) = outcomes["1"], outcomes["2"]
    assert not overlap(one_steps[0], one_steps[1])
    assert overlap(two_steps[0], two_steps[1])  # the run log shows them side by side
    assert [r[:4] for r in two_steps] == [r[:4] for r in one_steps]
    assert [s.details.get("tables") for s in two_run.steps[:2]] == [
        s.details.get("tables") for s in one_run.steps[:2]
    ]
    one_rows, two_rows = landed(one), landed(two)
    assert set(one_rows) == set(two_rows)
    assert {"raw_connectwise.tickets", "raw_quickbooks.invoices"} <= set(one_rows)
    assert all(one_rows[t] for t in ("raw_connectwise.tickets", "raw_quickbooks.invoices"))
    for table, rows in one_rows.items():
        assert len(two_rows[table]) == len(rows), table
        assert two_rows[table] == rows, table


def test_qbr_runs_shows_when_each_step_ran():
    """`qbr runs <id>`: each step's span in seconds from the run's start (overlaps show)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from qbr.app import runs

    t0 = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)

    def step(name, begin, end):
        return {
            "name": name, "status": "succeeded" if end else "running", "rows_loaded": None,
            "rows_rejected": None, "duration_ms": None, "error": None, "details": {},
            "started_at": t0 + timedelta(seconds=begin),
            "finished_at": t0 + timedelta(seconds=end) if end else None,
        }  # fmt: skip

    run_row = {
        "batch_id": "bc_x", "status": "running", "progress": 50, "created_at": t0,
        "started_at": t0, "finished_at": None, "trigger": "cli", "requested_by": None,
        "anomaly_flags": [], "options": {}, "pid": 7,
        "steps": [step("connectwise", 0.1, 3.46), step("quickbooks", 0.1, 2.0),
                  step("dbt_build", 3.5, None)],
    }  # fmt: skip
    lines = runs.format_run(run_row, ZoneInfo("UTC"), full=True)
    assert (
        "  steps ran (s from start): connectwise 0.1-3.5, quickbooks 0.1-2.0, dbt_build 3.5-running"
        in lines
    )


@pytest.mark.parametrize(
    ("value", "width"), [(None, 8), ("1", 1), ("3", 3), ("0", 1), ("two", 1), (" 2 ", 2)]
)
def test_source_concurrency_setting(monkeypatch, value, width):
    if value is None:
        monkeypatch.delenv("QBR_SOURCE_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("QBR_SOURCE_CONCURRENCY", value)
    assert refresh_run.source_concurrency() == width
