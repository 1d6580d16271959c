"""Helpers for the tests that drive real worker processes (test_jobs, test_outages, test_health_jobs);
waiting for a condition is `bench.procs.wait_for`."""

from __future__ import annotations

from workers.store import RunStore


def epochs_of(store: RunStore, run_id: str) -> list[int]:
    """The epoch numbers of the run's epoch entries, in stream order (a resumed epoch shows twice)."""
    return [d["epoch"] for _, kind, d in store.read_metrics(run_id) if kind == "epoch"]
