"""The one-day column of `make bench` is the median of its one-day refreshes."""

from __future__ import annotations

from bench.__main__ import median_run


def _run(batch: str, seconds: float | None, status: str = "succeeded") -> dict:
    return {"batch_id": batch, "seconds": seconds, "status": status}


def test_median_run_is_the_middle_one_and_a_failed_run_counts_as_the_longest() -> None:
    runs = [_run("a", 11.4), _run("b", 10.3), _run("c", 10.8)]
    assert median_run(runs)["batch_id"] == "c"
    # a failed (even if fast) run ranks last: the middle of b, c, d-failed is c
    assert median_run([_run("b", 10.3), _run("d", 2.0, "failed"), _run("c", 10.8)]) == runs[2]
    # an even count takes the lower middle; a single run is itself
    assert median_run([_run("a", 11.4), _run("b", 10.3)])["batch_id"] == "b"
    assert median_run([_run("a", 11.4)])["batch_id"] == "a"
