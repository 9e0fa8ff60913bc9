"""The refresh's record and queue (core): what every reader and starter of a refresh shares.

- `runlog`: the run log, `qbr_app.refresh_runs` / `refresh_steps` (Step, Run, RunLog).
- `locks`: the two advisory locks that make a refresh single-flight.
- `reconcile`: a run whose process died reads as failed on the next read.
- `queue`: creating runs (the one place a batch id is made), claiming a queued
  run, and `start_background` — what the API's POST /refresh calls; it starts
  `python -m qbr.app.refresh --batch-id <id>` by module name.
- `errors`: RefreshBusy, RefreshOptionsError and the exit codes of `qbr refresh`.

Running a refresh (sources, dbt build, schema swap) is the application layer's
job: `qbr.app.refresh`. This package imports only core modules, so the API can
use it.
"""

from __future__ import annotations

from qbr.refresh.errors import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_SUCCEEDED,
    RefreshBusy,
    RefreshOptionsError,
    exit_code,
)
from qbr.refresh.locks import LOCK_NAMESPACE, RUN_LOCK, TRIGGER_LOCK
from qbr.refresh.queue import child_env, new_batch_id, start_background
from qbr.refresh.reconcile import reconcile, reconcile_on_read
from qbr.refresh.runlog import Run, Step, last_good_load

__all__ = [
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "EXIT_SUCCEEDED",
    "LOCK_NAMESPACE",
    "RUN_LOCK",
    "TRIGGER_LOCK",
    "RefreshBusy",
    "RefreshOptionsError",
    "Run",
    "Step",
    "child_env",
    "exit_code",
    "last_good_load",
    "new_batch_id",
    "reconcile",
    "reconcile_on_read",
    "start_background",
]
