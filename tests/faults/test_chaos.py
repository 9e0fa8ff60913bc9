"""The short version of `make chaos` (issue 13 item 7): a few trials, every check.

Runs `python -m qbr.app.chaos --quick` in a child process with a fixed seed: a
baseline refresh, one fault per source (a dropped connection, a provider that
is down, a token rotation lost to a timeout), a refresh SIGKILLed mid-load,
and a bad Desktop file followed by a good one. The harness checks raw rows
against the sandbox, the run log, pending load packages, locks and the marts
after each trial; this test asserts its summary and its table.

The bad-file corpus here is made by the test (files today's importer must
refuse); `make chaos` feeds the shared corpus in tests/fixtures/bad_files/desktop/.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

from qbr.settings import PROJECT_ROOT

SEED = 13


def test_quick_chaos_loses_nothing_and_leaves_nothing_stuck(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "not_a_pnl.csv").write_text("Name,Amount\nFoo,12\n")
    (corpus / "not_a_pnl.csv.expected").write_text("no header row with month columns\n")
    home = PROJECT_ROOT / ".qbr" / "test" / f"chaos_{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QBR_", "SOURCES__"))}
    proc = subprocess.run(
        [sys.executable, "-m", "qbr.app.chaos", "--quick", "--seed", str(SEED),
         "--corpus", str(corpus), "--home", str(home)],
        capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT, env=env,
    )  # fmt: skip
    out = proc.stdout
    print(out[-6000:], proc.stderr[-3000:])
    assert f"chaos seed: {SEED}" in out
    summary = re.search(
        r"summary: (\d+) trials, (\d+) failed; lost (\d+), duplicated (\d+), "
        r"stuck runs (\d+), blocked imports (\d+)",
        out,
    )
    assert summary, out[-2000:]
    trials, failed, lost, duplicated, stuck, blocked = map(int, summary.groups())
    assert (failed, lost, duplicated, stuck, blocked) == (0, 0, 0, 0, 0)
    assert trials == 6
    rows = [line.split() for line in out.splitlines() if re.match(r"^\d+\s+\w", line)]
    assert [r[1] for r in rows] == ["baseline", "fault", "fault", "fault", "kill", "import"]
    assert {r[2] for r in rows if r[1] == "fault"} == {"connectwise", "quickbooks", "ninjaone"}
    kill = next(r for r in rows if r[1] == "kill")
    assert "SIGKILL" in kill  # the seed kills it mid-load (not after it finished)
    assert all(r[-1] == "ok" for r in rows)
    assert proc.returncode == 0
    assert not home.exists()  # the harness cleans up its cluster and data
