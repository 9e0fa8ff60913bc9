"""QuickBooks Desktop files: where imported and refused files go.

The drop folder and the file kinds are in the source registry (qbr.sources).
"""

from __future__ import annotations

DESKTOP_DONE_FOLDER = "processed"
DESKTOP_REFUSED_FOLDER = "refused"
