"""Where log records go when a person runs `qbr ...`.

A plain command prints only qbr's own messages (progress, results, errors).
Libraries (dlt, alembic, urllib3, ...) and Python warnings raised inside them
(`warnings.warn`, e.g. dlt's schema notes about odd fields in a source record)
go to the log file `<QBR_HOME>/logs/qbr.log` instead of the terminal. With
`-v` they are shown on the terminal too, at debug level.

dlt logs through its own `dlt` logger, which does not propagate and writes to
the first handler it finds on that logger (a new stderr handler if none): the
file handler is installed there first, so dlt writes to the file.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_NAME = "qbr.log"
#: loggers that do not propagate to the root and need the handlers themselves
SELF_CONTAINED = ("dlt",)


class _OwnMessages(logging.Filter):
    """Only qbr's own records (the `qbr` logger and its children)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "qbr" or record.name.startswith("qbr.")


def log_file(home: Path | None = None) -> Path:
    """`<QBR_HOME>/logs/qbr.log` (QBR_HOME default `.qbr`)."""
    base = home if home is not None else Path(os.environ.get("QBR_HOME") or ".qbr")
    return base / "logs" / LOG_NAME


def setup(verbose: bool, home: Path | None = None) -> Path | None:
    """Configure logging for one CLI command; returns the log file (None if unwritable)."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    formatter = logging.Formatter(FORMAT)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)

    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(formatter)
    if not verbose:
        console.addFilter(_OwnMessages())
    root.addHandler(console)

    path: Path | None = log_file(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8", delay=True)
        file_handler.setFormatter(formatter)
        file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        root.addHandler(file_handler)
    except OSError:
        path = None

    # library chatter: warnings and up into the file (debug with -v)
    for name in ("dlt", "alembic", "urllib3", "requests", "py.warnings", "sqlfluff"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("qbr").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings"

    for name in SELF_CONTAINED:
        own = logging.getLogger(name)
        for handler in own.handlers[:]:
            own.removeHandler(handler)
        own.propagate = False
        if path is not None:
            # its own handler on the same file: dlt replaces the first handler's formatter
            own_file = logging.FileHandler(path, encoding="utf-8", delay=True)
            own_file.setFormatter(formatter)
            own.addHandler(own_file)  # first handler: the one dlt keeps using
        if verbose:
            own.addHandler(console)
        if not own.handlers:
            own.addHandler(logging.NullHandler())
    return path
