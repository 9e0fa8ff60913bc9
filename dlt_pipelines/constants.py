"""Every number, path and name the pipelines depend on, in one place.

Values that follow from the source APIs (see shared/SOURCES.md) are constants;
values an operator may want to change are settings (`RUNTIME__REQUEST_*` for
retries, `QBR_*` for the warehouse).
"""

from __future__ import annotations

from datetime import UTC, datetime

# --- datasets and pipelines ---------------------------------------------------

#: step name -> dataset (schema) it lands in
DATASETS: dict[str, str] = {
    "connectwise": "raw_connectwise",
    "quickbooks": "raw_quickbooks",
    "quickbooks_desktop": "raw_quickbooks",
    "ninjaone": "raw_ninjaone",
}
#: dlt pipeline names are `qbr_<step>`; their working folders live under <home>/dlt/<db>/
PIPELINE_PREFIX = "qbr_"

#: the quarantine table every dataset has (docs/contracts.md §2)
REJECTED_TABLE = "rejected_records"
#: the column the deletion check stamps (never hard-deleted)
DELETED_AT = "_deleted_at"

#: loader file format: measured by dlt_pipelines/bench.py (see its docstring)
DEFAULT_LOADER_FILE_FORMAT = "csv"

#: an incremental run re-reads from here when there is no cursor yet
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

# --- HTTP ---------------------------------------------------------------------

# Retries use dlt's settings (RUNTIME__REQUEST_MAX_ATTEMPTS=5, _BACKOFF_FACTOR=1,
# _MAX_RETRY_DELAY=300, _TIMEOUT=60 by default); see dlt_pipelines/http.py.
USER_AGENT = "qbr-warehouse/0.1 (+dlt)"

# --- ConnectWise PSA ----------------------------------------------------------

CW_PAGE_SIZE = 1000
CW_ACCEPT = "application/vnd.connectwise.com+json; version=2025.8"
#: forward-only paging (pageId = last id) cannot skip or repeat a record when
#: the result set changes while we page through it; the next page still comes
#: from the `Link` header.
CW_FORWARD_ONLY = True
#: resource name -> API path relative to .../apis/3.0/
CW_RESOURCES: dict[str, str] = {
    "tickets": "service/tickets",
    "time_entries": "time/entries",
    "companies": "company/companies",
    "boards": "service/boards",
    "agreements": "finance/agreements",
    "members": "system/members",
}
CW_CURSOR = "_info.lastUpdated"
#: a full id sweep at least every this many days (`QBR_DELETION_SWEEP_DAYS`);
#: between sweeps the source's count decides whether one is needed
DEFAULT_SWEEP_DAYS = 7

# --- QuickBooks Online --------------------------------------------------------

QBO_MINOR_VERSION = "75"
QBO_PAGE_SIZE = 1000
#: resource name -> entity name (case-sensitive in the query language)
QBO_ENTITIES: dict[str, str] = {
    "accounts": "Account",
    "customers": "Customer",
    "items": "Item",
    "invoices": "Invoice",
    "payments": "Payment",
    "credit_memos": "CreditMemo",
}
#: name lists hide inactive rows unless the query mentions Active
QBO_NAME_LISTS = {"Account", "Customer", "Item"}
QBO_CURSOR = "MetaData.LastUpdatedTime"
#: CDC looks back at most 30 days and returns at most 1000 objects; beyond that
#: the deletion check falls back to an Id-only sweep.
QBO_CDC_MAX_AGE_DAYS = 29
QBO_CDC_MAX_OBJECTS = 1000
#: months of the P&L re-read on every run (books for closed months still change)
PNL_REREAD_MONTHS = 13
#: months per report request (one column per month)
PNL_MONTHS_PER_REQUEST = 12
PNL_ACCOUNTING_METHOD = "Accrual"
#: the real service allows 10 concurrent requests per realm; dlt's extract pool
#: has 5 workers by default, and QuickBooks resources never exceed this many
QBO_MAX_CONCURRENCY = 5
#: where the newest rotated refresh token is kept (qbr_app.source_credentials)
QBO_CREDENTIALS_KEY = "quickbooks"

# --- QuickBooks Desktop files -------------------------------------------------

#: `<settings.home>/imports/quickbooks/`: each refresh imports what is dropped here
DESKTOP_DROP_FOLDER = ("imports", "quickbooks")
DESKTOP_DONE_FOLDER = "processed"
DESKTOP_REFUSED_FOLDER = "refused"
DESKTOP_SUFFIXES = (".csv", ".xlsx")

# --- NinjaOne -----------------------------------------------------------------

NINJA_PAGE_SIZE = 1000
NINJA_SCOPE = "monitoring"
NINJA_TOKEN_PATH = "ws/oauth/token"
NINJA_RESOURCES: dict[str, str] = {
    "organizations": "v2/organizations",
    "locations": "v2/locations",
    "devices": "v2/devices-detailed",
}
NINJA_VENDOR = "NinjaRMM"
#: VM guests are not managed endpoints; the MSP's collector skips them too
NINJA_SKIPPED_NODE_CLASSES = ("VMWARE_VM_GUEST", "HYPERV_VMM_GUEST")
