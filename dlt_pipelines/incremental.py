"""The cursors every incremental resource keeps (dlt's `incremental` state).

Three ways to read a resource:
- **incremental** (a plain refresh): from the stored cursor on; the cursor
  moves to the newest record read;
- **full** (`--full`): everything from the epoch, and the cursor is *set* from
  what was read, so the next plain refresh reads only what changed after it
  (`restarted()`: the stored cursor is forgotten when the resource is bound,
  inside the extract, so a failed full read keeps the old cursor);
- **since** (`--since YYYY-MM`): a bounded re-read (`end_value`) that leaves
  the stored cursor where it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dlt
from dlt.extract.incremental import Incremental


class Restarted(Incremental[datetime]):
    """An incremental whose stored state is dropped when it is bound to its
    resource, so it reads from `initial_value` and stores the new last value."""

    def bind(self, pipe: Any) -> Any:
        Incremental._get_state(pipe.name, self.cursor_path).clear()
        return super().bind(pipe)


def cursor(
    path: str,
    start: datetime,
    end: datetime | None,
    *,
    full: bool = False,
    **options: Any,
) -> Any:
    """The incremental for one resource: `full` restarts it from `start`."""
    if full:
        return Restarted(path, initial_value=start, **options)
    return dlt.sources.incremental(path, initial_value=start, end_value=end, **options)
