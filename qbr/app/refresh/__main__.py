"""`python -m qbr.app.refresh --batch-id <id>`: run a refresh queued by
qbr.refresh.start_background (the API's POST /refresh starts this process)."""

from __future__ import annotations

import argparse
import logging
import sys

from qbr.app.refresh.run import run_refresh
from qbr.errors import QbrError
from qbr.refresh import EXIT_BUSY, EXIT_INTERRUPTED, RefreshBusy, exit_code
from qbr.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qbr.app.refresh")
    parser.add_argument("--batch-id", required=True)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        run = run_refresh(get_settings(), batch_id=args.batch_id)
    except RefreshBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except QbrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return exit_code(run.status)


if __name__ == "__main__":
    sys.exit(main())
