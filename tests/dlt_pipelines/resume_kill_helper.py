"""Run in a child process by test_resume_staging: load the pending QuickBooks
package and get killed with SIGKILL in the window the resume repair is for -
a staging job's COPY has committed, but dlt has not yet recorded the job as
done (neither its pending-transition marker nor the move to completed_jobs).

    python -m tests.dlt_pipelines.resume_kill_helper <table> <file format> <nth job>

(`csv`: a COPY into the staging dataset; `sql`: the merge job into the destination.)

The database comes from the QBR_* environment (tests.dlt_pipelines.conftest.subprocess_env).
"""

from __future__ import annotations

import os
import signal
import sys

from dlt.common.storages.load_package import PackageStorage, ParsedLoadJobFileName

from dlt_pipelines.runner import make_pipeline
from qbr.settings import Settings


def main(table: str, file_format: str, nth: int) -> None:
    os.environ["LOAD__WORKERS"] = "1"  # one job at a time: the kill lands on the nth one
    record = PackageStorage.save_pending_transition  # called right after the job's commit
    seen: list[str] = []

    def killed_before_recording(self, load_id, file_name, state, failed_message=None):
        job = ParsedLoadJobFileName.parse(file_name)
        if state == "completed" and (job.table_name, job.file_format) == (table, file_format):
            seen.append(file_name)
            if len(seen) == nth:
                print(f"killing after the commit of {file_name}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        return record(self, load_id, file_name, state, failed_message)

    PackageStorage.save_pending_transition = killed_before_recording  # type: ignore[method-assign]
    make_pipeline(Settings(), "quickbooks").load()
    print("load finished before the kill", flush=True)
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
