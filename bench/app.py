"""The application-layer names the benchmarks use, imported here and nowhere else
in bench/: when a module moves (qbr's CLI, demo and refresh to `qbr/app/`,
`api.roles` to the core), this file is the one to change.
"""

from __future__ import annotations

from qbr.app.demo_inputs import enter_manual_history
from qbr.roles import api_database_url

#: what gunicorn serves (`qbr serve`): the API with the dashboard, response cache on / off
APP_CACHE_ON = "qbr.app.web:app"
APP_CACHE_OFF = "qbr.app.web:build({'QBR_RESPONSE_CACHE': 0})"

#: `python -m <CLI_MODULE> refresh ...`: the operator's command, run as a child
CLI_MODULE = "qbr.app.cli"

__all__ = [
    "APP_CACHE_OFF",
    "APP_CACHE_ON",
    "CLI_MODULE",
    "api_database_url",
    "enter_manual_history",
]
