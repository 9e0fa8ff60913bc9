"""`qbr docs [--serve --port N]`: build the dbt docs site, optionally serve it.

The site is dbt's own (`dbt docs generate`: lineage, column docs, the metric
formula docs blocks, exposures for the API and dashboard). Generating needs
the database (dbt reads the catalog from it), so the profile comes from the
same settings as everything else. Serving is a plain static file server over
`dbt_project/target` bound to the API host (loopback by default): dbt's own
`docs serve` would also work, but this one needs no extra process
management and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import logging
import sys
from pathlib import Path

from qbr import dbt_runner
from qbr.errors import QbrError
from qbr.settings import Settings

log = logging.getLogger("qbr.docs")

#: files `dbt docs generate` writes; the site needs all three
SITE_FILES = ("index.html", "manifest.json", "catalog.json")


def target_dir(settings: Settings) -> Path:
    """Where dbt writes the site (the same path dbt_runner gives dbt)."""
    env = dbt_runner.dbt_env(settings)
    return Path(env["DBT_TARGET_PATH"])


def generate(settings: Settings) -> Path:
    """Run `dbt docs generate`; returns the site folder. Raises QbrError on failure."""
    from qbr import db

    db.ensure_server(settings)
    result = dbt_runner.run(settings, ["docs", "generate"])
    site = target_dir(settings)
    if result.returncode != 0:
        tail = "\n".join((result.stdout or "").strip().splitlines()[-15:])
        raise QbrError(f"dbt docs generate failed:\n{tail}")
    missing = [name for name in SITE_FILES if not (site / name).exists()]
    if missing:
        raise QbrError(f"dbt docs generate did not write {', '.join(missing)} in {site}")
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug(format, *args)


def make_server(site: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A static server over the docs site (port 0 picks a free port)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve(site: Path, host: str, port: int) -> int:
    server = make_server(site, host, port)
    bound_host, bound_port = server.server_address[:2]
    print(f"dbt docs: http://{bound_host}:{bound_port}/ (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    site = generate(settings)
    print(f"docs site built in {site}")
    if getattr(args, "serve", False):
        port = getattr(args, "port", None) or settings.docs_port
        return serve(site, settings.api_host, int(port))
    return 0


if __name__ == "__main__":  # pragma: no cover - convenience
    from qbr.settings import get_settings

    parser = argparse.ArgumentParser(prog="qbr docs")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=8080)
    sys.exit(main(get_settings(), parser.parse_args()))
