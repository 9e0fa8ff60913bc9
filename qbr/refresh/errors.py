"""What a refresh can refuse with, and the exit codes of `qbr refresh`."""

from __future__ import annotations

from qbr.errors import QbrError

#: Exit codes of `qbr refresh` (and `python -m qbr.app.refresh`): 0 only when every step
#: succeeded. 2 is a bad option or configuration (nothing ran); 3 "another refresh is
#: running" is success for systemd (SuccessExitStatus=3); 130 interrupted.
EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_BUSY = 3
EXIT_PARTIAL = 4
EXIT_INTERRUPTED = 130


def exit_code(status: str) -> int:
    """The process exit code for a finished run's status."""
    return {"succeeded": EXIT_SUCCEEDED, "partial": EXIT_PARTIAL}.get(status, EXIT_FAILED)


class RefreshBusy(QbrError):
    """A refresh is already queued or running: one at a time (CLI exit 3, API 409)."""

    exit_code = EXIT_BUSY

    def __init__(self, batch_id: str | None, status: str = "running"):
        self.batch_id = batch_id
        self.status = status
        what = f"{batch_id} is {status}" if batch_id else "another process holds the refresh lock"
        super().__init__(f"A refresh is already in progress ({what}); try again when it ends.")


class RefreshOptionsError(QbrError, ValueError):
    """Bad sources / since given to a refresh (the API answers 400)."""
