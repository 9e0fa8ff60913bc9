"""dlt pipelines: one module per source, landing raw records in `raw_<source>`."""
