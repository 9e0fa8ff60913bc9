"""Local imitations of the source APIs plus a deterministic synthetic MSP.

`sandbox.msp.generate()` builds the MSP; `sandbox.ground_truth` recomputes
every metric input from it in plain Python; the core's `qbr.inventory` writes
its device snapshots into inventory tables; `sandbox.servers` serves its records
over HTTP like ConnectWise, QuickBooks Online and NinjaOne;
`sandbox.memory_profile` measures the sandbox process's memory across advances.
"""

from typing import Any

from sandbox.msp import CHART_OF_ACCOUNTS, DEFAULT_CONFIG, MSP, PRESETS, generate

__all__ = ["CHART_OF_ACCOUNTS", "DEFAULT_CONFIG", "MSP", "PRESETS", "generate", "memory_profile"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m sandbox.memory` does not import that module twice.
    if name == "memory_profile":
        from sandbox.memory import memory_profile

        return memory_profile
    raise AttributeError(name)
