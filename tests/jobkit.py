"""Helpers for the tests that drive real worker processes (test_jobs, test_outages, test_health_jobs)."""

from __future__ import annotations

import time

from workers.store import RunStore


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """The first truthy value of `predicate()`, polled every `interval` s; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def epochs_of(store: RunStore, run_id: str) -> list[int]:
    """The epoch numbers of the run's epoch entries, in stream order (a resumed epoch shows twice)."""
    return [d["epoch"] for _, kind, d in store.read_metrics(run_id) if kind == "epoch"]
