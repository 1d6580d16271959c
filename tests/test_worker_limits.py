"""The worker checks a run again with its own limits, data folder and free memory before training
(real redis-server, a real `python -m workers` process)."""

from __future__ import annotations

import time

import pytest

from snn_core.config import RunConfig
from workers import submission
from workers.store import RunStatus, RunStore

pytestmark = pytest.mark.timeout(120)

TINY = dict(T=5, epochs=1, train_limit=200, test_limit=100, batch_size=50)


def wait_done(store: RunStore, run_ids: list[str], timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = {i: store.get_run(i) for i in run_ids}
        if all(r.status in (RunStatus.FINISHED, RunStatus.FAILED) for r in records.values()):
            return records
        time.sleep(0.2)
    raise AssertionError(f"runs not done after {timeout}s: {[(i, r.status) for i, r in records.items()]}")


def test_worker_refuses_what_its_operator_does_not_allow(redis_conn, workers, monkeypatch):
    store = RunStore(redis_conn)
    # Written straight into Redis (as any Redis client could), past submission's data_dir check:
    foreign_dir = store.create_run(RunConfig(**TINY, data_dir="/etc")).id
    submission._enqueue(redis_conn, foreign_dir)
    # A submitter that raised its own limits: the worker's limits still hold.
    monkeypatch.setenv("SPIKEBOARD_MAX_EPOCHS", "5000")
    too_long = submission.submit_run(redis_conn, RunConfig(**{**TINY, "epochs": 2000})).record.id
    # Allowed on both sides, but more memory than this machine has free.
    monkeypatch.setenv("SPIKEBOARD_MAX_RUN_MEMORY_GB", "100000")
    huge = submission.submit_run(redis_conn, RunConfig(**{**TINY, "T": 1000, "batch_size": 4096, "hidden": [4096],
                                                       "train_limit": 0})).record.id
    fine = submission.submit_run(redis_conn, RunConfig(**TINY, seed=1)).record.id
    workers(1, burst=True, SPIKEBOARD_MAX_RUN_MEMORY_GB="100000")
    records = wait_done(store, [foreign_dir, too_long, huge, fine])
    assert "data_dir must be empty (workers read their own SPIKEBOARD_DATA_DIR)" in records[foreign_dir].error
    assert "epochs must be at most 1000 (SPIKEBOARD_MAX_EPOCHS), got 2000" in records[too_long].error
    assert records[huge].status is RunStatus.FAILED
    assert "batch_size 4096: this run needs about" in records[huge].error and "GiB free" in records[huge].error
    assert records[fine].status is RunStatus.FINISHED, records[fine].error
    for run_id in (foreign_dir, too_long, huge):
        assert records[run_id].status is RunStatus.FAILED and not store.read_metrics(run_id)
