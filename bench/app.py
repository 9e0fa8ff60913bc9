"""The application-layer names the benchmarks use, imported here and nowhere else
in bench/: when a module moves (qbr's CLI, demo and refresh to `qbr/app/`,
`api.roles` to the core), this file is the one to change.
"""

from __future__ import annotations

from qbr.app.demo_inputs import enter_manual_history
from qbr.roles import api_database_url

#: `python -m <CLI_MODULE> refresh ...`: the operator's command, run as a child
CLI_MODULE = "qbr.app.cli"

__all__ = ["CLI_MODULE", "api_database_url", "enter_manual_history"]
