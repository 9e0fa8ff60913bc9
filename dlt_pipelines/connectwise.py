"""ConnectWise PSA → raw_connectwise.

A dlt `rest_api` source: Basic auth (`companyId+publicKey` / `privateKey`)
plus the required `clientId` header, pages of 1000 followed through the
`Link` header, incremental on `_info.lastUpdated` and merged on id.
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.helpers.rest_client.auth import HttpBasicAuth
from dlt.sources.helpers.rest_client.paginators import HeaderLinkPaginator
from dlt.sources.rest_api import rest_api_source

PAGE_SIZE = 1000
ACCEPT = "application/vnd.connectwise.com+json; version=2025.8"
EPOCH = "2000-01-01T00:00:00Z"

#: resource name -> API path, relative to .../apis/3.0/
RESOURCES: dict[str, str] = {
    "tickets": "service/tickets",
}

# Rows the id sweep finds gone at the source get a timestamp here (never deleted).
DELETED_COLUMN = {"_deleted_at": {"data_type": "timestamp", "nullable": True}}


@dlt.source(name="connectwise", max_table_nesting=1)
def connectwise_source(
    base_url: str = dlt.config.value,
    company_id: str = dlt.secrets.value,
    public_key: str = dlt.secrets.value,
    private_key: str = dlt.secrets.value,
    client_id: str = dlt.secrets.value,
    resources: tuple[str, ...] = tuple(RESOURCES),
) -> Any:
    config: dict[str, Any] = {
        "client": {
            "base_url": base_url,
            "auth": HttpBasicAuth(f"{company_id}+{public_key}", private_key),
            "headers": {"clientId": client_id, "Accept": ACCEPT},
            "paginator": HeaderLinkPaginator(),
        },
        "resource_defaults": {
            "primary_key": "id",
            "write_disposition": "merge",
            "columns": DELETED_COLUMN,
            "endpoint": {"params": {"pageSize": PAGE_SIZE, "orderBy": "id asc"}},
        },
        "resources": [
            {
                "name": name,
                "endpoint": {
                    "path": RESOURCES[name],
                    "params": {"conditions": "lastUpdated >= [{incremental.start_value}]"},
                    "incremental": {"cursor_path": "_info.lastUpdated", "initial_value": EPOCH},
                },
            }
            for name in resources
        ],
    }
    return rest_api_source(config).resources.values()
