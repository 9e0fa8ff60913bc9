"""How much memory the sandbox process holds as its clock moves (issue 15).

`memory_profile(preset, advances)` starts a fresh child process (so the figures
are the sandbox's own, not the caller's heap) that does what `qbr sandbox up`
plus a daily refresh do: generate the MSP, serve it over HTTP, read every
ConnectWise list page by page like the pipeline, then `advances` times move the
clock one day through the loopback control API and read everything again. It
returns the resident set size after each step; a flat sandbox has
`growth_mb` near zero whatever the number of advances. A second child measures
what writing one advanced day of inventory needs (`inventory_day_peak_mb`):
plan the devices alone (`generate_inventory`), advance, stream that day's
snapshot rows.

    python -m sandbox.memory --preset demo --advances 3
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CW_LISTS = ("service/tickets", "time/entries", "company/companies", "finance/agreements")


def memory_profile(
    preset: str = "demo",
    advances: int = 3,
    *,
    seed: int = 42,
    today: dt.date | None = None,
    read: bool = True,
    inventory: bool = True,
    timeout: float = 3600,
) -> dict[str, Any]:
    """RSS figures (MB) of the sandbox process across `advances` one-day advances:
    {"preset", "advances", "rss_mb": {"started", "read", "advance_1", ...},
    "peak_mb", "growth_mb" (last minus after the first read), "inventory_day_peak_mb"}.
    Each figure comes from a child process of its own."""
    args = ["--preset", preset, "--advances", str(advances), "--seed", str(seed)]
    if today is not None:
        args += ["--today", today.isoformat()]
    if not read:
        args.append("--no-read")
    result = _child(["serve", *args], timeout)
    if inventory:
        result["inventory_day_peak_mb"] = _child(["inventory", *args], timeout)["peak_mb"]
    return result


def _child(argv: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.memory", *argv],
        capture_output=True,
        text=True,
        cwd=str(PROJECT_ROOT),
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sandbox memory profile failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 1e6, 1)


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent
    across fork + exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) * 1024 / 1e6, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1)


def _read_connectwise(sandbox: Any) -> int:
    """Every ConnectWise list, forward-only pages of 1,000 (as the pipeline reads)."""
    import requests

    creds = sandbox.credentials["connectwise"]
    user = f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": creds["client_id"],
        "pagination-type": "forward-only",
    }
    rows = 0
    with requests.Session() as session:
        for path in CW_LISTS:
            url: str | None = f"{sandbox.urls['connectwise']}{path}?pageSize=1000"
            while url:
                response = session.get(url, headers=headers, timeout=300)
                response.raise_for_status()
                rows += len(response.json())
                url = response.links.get("next", {}).get("url")
    return rows


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    import requests

    from sandbox.msp import generate
    from sandbox.servers.runner import Sandbox

    msp = generate(args.preset, args.seed, args.today)
    rss: dict[str, float] = {}
    with Sandbox(msp) as sandbox:
        rss["started"] = _rss_mb()
        if args.read:
            _read_connectwise(sandbox)
            rss["read"] = _rss_mb()
        control = sandbox.control_urls["connectwise"] + "advance"
        for n in range(1, args.advances + 1):
            requests.post(control, json={"days": 1}, timeout=3600).raise_for_status()
            if args.read:
                _read_connectwise(sandbox)
            rss[f"advance_{n}"] = _rss_mb()
    first = rss.get("read", rss["started"])
    last = rss[f"advance_{args.advances}"] if args.advances else first
    return {
        "preset": args.preset,
        "advances": args.advances,
        "rss_mb": rss,
        "peak_mb": _peak_mb(),
        "growth_mb": round(last - first, 1),
    }


def _inventory(args: argparse.Namespace) -> dict[str, Any]:
    from sandbox.msp import generate_inventory

    msp = generate_inventory(args.preset, args.seed, args.today)  # the devices alone
    msp.advance(1)
    rows = 0
    for vendor in ("NinjaRMM", "ThreatLocker"):
        for _ in msp.iter_device_snapshots(vendor, start=msp.today, end=msp.today):
            rows += 1
    return {"rows": rows, "peak_mb": _peak_mb()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.memory", description=__doc__)
    parser.add_argument("what", nargs="?", choices=["profile", "serve", "inventory"],
                        default="profile")  # fmt: skip
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--advances", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--today", type=dt.date.fromisoformat)
    parser.add_argument("--no-read", dest="read", action="store_false")
    args = parser.parse_args(argv)
    if args.what == "serve":
        result = _serve(args)
    elif args.what == "inventory":
        result = _inventory(args)
    else:
        result = memory_profile(args.preset, args.advances, seed=args.seed, today=args.today,
                                read=args.read)  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
