"""HTTP imitations of ConnectWise PSA, QuickBooks Online and NinjaOne over a synthetic
MSP, with fault injection and a `/_sandbox/` control API. Start with `Sandbox`."""

from __future__ import annotations

from typing import Any

__all__ = ["Faults", "Sandbox", "default_credentials"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m sandbox.servers.runner` does not import the runner twice.
    if name in {"Sandbox", "default_credentials"}:
        from sandbox.servers import runner

        return getattr(runner, name)
    if name == "Faults":
        from sandbox.servers.faults import Faults

        return Faults
    raise AttributeError(name)
