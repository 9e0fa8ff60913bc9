"""Run in a child process by test_reliability: start a ConnectWise load and get
killed with SIGKILL in the middle of it (after the first load job completed).

    python -m tests.dlt_pipelines.kill_helper '<connectwise config as JSON>'

The database comes from the QBR_* environment (tests.dlt_pipelines.conftest.subprocess_env).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from dlt_pipelines import connectwise
from dlt_pipelines.runner import RunContext, make_pipeline
from qbr.settings import Settings


def _kill_after_first_job(package_dir: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = package_dir / "completed_jobs"
        if done.is_dir() and any(done.iterdir()):
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.002)


def main(config_json: str) -> None:
    os.environ["LOAD__WORKERS"] = "1"  # one job at a time: the kill lands between jobs
    settings = Settings()
    pipeline = make_pipeline(settings, "connectwise")
    context = RunContext(known_types={})
    source = connectwise.connectwise_source(
        **json.loads(config_json), deletions=context.deletions, rejected=context.rejected
    )
    pipeline.extract(source)
    pipeline.normalize()
    load_id = pipeline.list_normalized_load_packages()[-1]
    package = Path(pipeline.working_dir) / "load" / "normalized" / load_id
    print(f"loading {load_id}", flush=True)
    threading.Thread(target=_kill_after_first_job, args=(package,), daemon=True).start()
    pipeline.load()
    print("load finished before the kill", flush=True)
    sys.exit(3)


if __name__ == "__main__":
    main(sys.argv[1])
