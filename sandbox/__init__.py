"""Local imitations of the source APIs plus a deterministic synthetic MSP.

`sandbox.msp.generate()` builds the MSP; `sandbox.ground_truth` recomputes
every metric input from it in plain Python; `sandbox.inventory` writes its
device snapshots into inventory tables; `sandbox.servers` serves its records
over HTTP like ConnectWise, QuickBooks Online and NinjaOne.
"""

from sandbox.msp import CHART_OF_ACCOUNTS, DEFAULT_CONFIG, MSP, PRESETS, generate

__all__ = ["CHART_OF_ACCOUNTS", "DEFAULT_CONFIG", "MSP", "PRESETS", "generate"]
