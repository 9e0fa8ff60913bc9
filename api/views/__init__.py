"""One blueprint per resource, all nested under the `/api/qbr` blueprint."""
