"""The numbers, paths and names every pipeline shares.

Each source's own (page sizes, paths, cursors) are in its package's
`settings.py` (dlt_pipelines/<source>/settings.py), as in dlt's verified sources.

Values that follow from the source APIs (see shared/SOURCES.md) are constants;
values an operator may want to change are settings (`RUNTIME__REQUEST_*` for
retries, `QBR_*` for the warehouse).
"""

from __future__ import annotations

from datetime import UTC, datetime

from qbr import sources as registry

# --- datasets and pipelines ---------------------------------------------------

#: step name -> dataset (schema) it lands in: `raw_<name>` unless its registry entry
#: says otherwise (qbr/sources.py)
DATASETS: dict[str, str] = {s.name: s.raw_dataset for s in registry.REGISTRY.values()}
#: dlt pipeline names are `qbr_<step>`; their working folders live under <home>/dlt/<db>/
PIPELINE_PREFIX = "qbr_"

#: the quarantine table every dataset has (docs/contracts.md §2)
REJECTED_TABLE = "rejected_records"
#: the column the deletion check stamps (never hard-deleted)
DELETED_AT = "_deleted_at"

#: loader file format: measured by `python -m bench --formats` (bench/formats.py)
DEFAULT_LOADER_FILE_FORMAT = "csv"

#: an incremental run re-reads from here when there is no cursor yet
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# --- HTTP ---------------------------------------------------------------------

# Retries use dlt's settings (RUNTIME__REQUEST_MAX_ATTEMPTS=5, _BACKOFF_FACTOR=1,
# _MAX_RETRY_DELAY=300, _TIMEOUT=60 by default); see dlt_pipelines/http.py.
USER_AGENT = "qbr-warehouse/0.1 (+dlt)"
