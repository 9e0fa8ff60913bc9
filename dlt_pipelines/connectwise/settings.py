"""ConnectWise PSA: paths, page size, cursor.

Values that follow from the source API (shared/SOURCES.md) are constants; its
connection settings are in the source registry (qbr.sources).
"""

from __future__ import annotations

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
#: the full id sweep's default period is qbr.settings.DEFAULT_DELETION_SWEEP_DAYS
