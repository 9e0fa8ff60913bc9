"""HTTP imitations of ConnectWise PSA, QuickBooks Online and NinjaOne over a synthetic
MSP, with fault injection and a `/_sandbox/` control API. Start with `Sandbox`.

`SERVERS` names each imitation server (a `base.Server`: its Flask blueprint
factory, `create_app`, default credentials and URLs), in port order: the source
registry names a source's server by its key, and `Sandbox` serves every entry.
"""

from __future__ import annotations

from typing import Any

from sandbox.servers import connectwise, ninjaone, quickbooks
from sandbox.servers.base import Server

SERVERS: dict[str, Server] = {
    server.name: server for server in (connectwise.SERVER, quickbooks.SERVER, ninjaone.SERVER)
}

__all__ = ["SERVERS", "Faults", "Sandbox", "Server", "default_credentials"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m sandbox.servers.runner` does not import the runner twice.
    if name in {"Sandbox", "default_credentials"}:
        from sandbox.servers import runner

        return getattr(runner, name)
    if name == "Faults":
        from sandbox.servers.faults import Faults

        return Faults
    raise AttributeError(name)
