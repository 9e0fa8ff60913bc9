"""QuickBooks Online: entities, page size, cursors, the P&L windows.

Values that follow from the source API (shared/SOURCES.md) are constants; its
connection settings are in the source registry (qbr.sources).
"""

from __future__ import annotations

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
