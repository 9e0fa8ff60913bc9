"""How a step or a whole run of the refresh process fails."""

from __future__ import annotations

from typing import Any


class StepError(Exception):
    """A step failed; `details` still go to the run log."""

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.details = details or {}


class RefreshInterrupted(KeyboardInterrupt):
    """SIGTERM (systemd stop, kill) during a run: recorded as failed, then re-raised."""
