"""Benchmarks: what a refresh costs against what it has to cost, and how fast the
API answers (`make bench`, `make bench BENCH_PRESET=large`; `python -m bench`).

One run, on a throwaway database, home and sandbox of its own:

1. sandbox of the preset, inventory history written (as the MSP's collectors);
2. `qbr refresh --full` (full backfill);
3. the SQL floor (`floor.sql`: the monthly operations numbers of
   `metrics_monthly_collected` in one statement), checked against the mart;
4. the ingestion floor (`ingest.py`: the same ConnectWise pages fetched with
   plain HTTP and COPYed with psycopg);
5. `qbr sandbox advance` by one day, that day's inventory, `qbr refresh`
   (one-day), three times (`--days`; each run is printed, the median run is
   the one-day column and ratio), then `qbr refresh` again (no change);
6. the API under gunicorn at 16 concurrent clients, response cache on and
   off, beside direct psycopg on the same marts; the dashboard's sign-in ->
   scorecard in headless Chromium against the cache-on server.

Refresh figures (total, per step, per phase, dbt nodes) are read from the run
log, not timed again; peak memory (VmHWM) is sampled per process from outside.
Everything is printed side by side with the targets of issue 15 and written to
`bench/results.json` (git-ignored: figures of one machine).

Modules: `harness` (ports, workspace, child processes, peak memory), `app`
(the application-layer imports, in one place), one module per measurement.
"""
