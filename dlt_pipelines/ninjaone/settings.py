"""NinjaOne: paths, page size, scope, the inventory vendor.

Values that follow from the source API (shared/SOURCES.md) are constants; its
connection settings are in the source registry (qbr.sources).
"""

from __future__ import annotations

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
