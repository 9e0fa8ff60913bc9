"""Running a refresh: every configured source, then `dbt build`, recorded as one run.

The modules, in the order a run meets them:

- `run`: `run_refresh()` claims the run (qbr.refresh.queue: the batch id is made
  there, for the CLI and the API alike) and executes its steps: the sources side
  by side, one thread per raw schema (`QBR_SOURCE_CONCURRENCY`), through the
  source registry (qbr.app.sources), then the build.
- `dbt`: the dbt command line, its child process (`dbt_child.py`, started
  ahead while the sources load) and the digest of its output.
- `swap`: readers never see half-built marts — dbt builds into `*__build`
  schemas, and a good build is renamed in, in one short transaction.
- `flags`: the anomaly flags of the new build, marked new / carried / acknowledged.
- `__main__`: `python -m qbr.app.refresh --batch-id <id>`, the process the API's
  POST /refresh starts (qbr.refresh.start_background) to run a queued row.

The run log, the locks, reconciliation of dead runs and the queue are core
(`qbr.refresh`), because the API and `qbr status` read and start runs too.

Single flight: the running refresh holds a PostgreSQL advisory lock on a
dedicated connection for its whole duration (qbr.refresh.locks); a run whose
process died loses its lock with its connection, and the next start (or any
read of the run log) marks it failed.
"""

from __future__ import annotations

from qbr.app.refresh.errors import RefreshInterrupted, StepError
from qbr.app.refresh.run import prepare_quietly, run_refresh
from qbr.app.refresh.swap import BUILD_SCHEMA, MARTS_SCHEMA, OLD_SCHEMA
from qbr.refresh import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    EXIT_SUCCEEDED,
    LOCK_NAMESPACE,
    RUN_LOCK,
    RefreshBusy,
    RefreshOptionsError,
    Run,
    Step,
    exit_code,
    last_good_load,
    new_batch_id,
    reconcile,
    reconcile_on_read,
    start_background,
)

__all__ = [
    "BUILD_SCHEMA",
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_PARTIAL",
    "EXIT_SUCCEEDED",
    "LOCK_NAMESPACE",
    "MARTS_SCHEMA",
    "OLD_SCHEMA",
    "RUN_LOCK",
    "RefreshBusy",
    "RefreshInterrupted",
    "RefreshOptionsError",
    "Run",
    "Step",
    "StepError",
    "exit_code",
    "last_good_load",
    "new_batch_id",
    "prepare_quietly",
    "reconcile",
    "reconcile_on_read",
    "run_refresh",
    "start_background",
]
