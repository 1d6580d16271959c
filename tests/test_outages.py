"""Redis outages and killed work horses, with a real redis-server and real worker processes.

Leases here last 2 s (the `workers` fixture), so an outage of a few seconds outlives them; the
long outages (20 s, 60 s) are in bench/probe_outage.py.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from snn_core.config import RunConfig
from workers import connection, submission
from workers.redis_server import start_redis
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of

pytestmark = pytest.mark.timeout(120)

# About 2-3 s an epoch on one CPU thread.
SLOW = dict(T=100, hidden=(64,), epochs=3, batch_size=8, train_limit=1600, test_limit=100)


def crash_redis(server, down_s: float) -> None:
    """kill -9 the redis-server, keep it away `down_s` seconds, start it again on its port and AOF dir."""
    server.proc.kill()
    server.proc.wait(timeout=10)
    time.sleep(down_s)
    server.proc, server.url = start_redis(server.dir, port=server.port)


def horse_of(worker_pid: int) -> int | None:
    children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return int(children[0]) if children else None


def test_redis_away_longer_than_the_lease_never_trains_a_run_twice(redis_server, redis_conn, workers, tmp_path):
    store = RunStore(redis_conn)
    run_id = submission.submit_run(redis_conn, RunConfig(**SLOW)).record.id
    procs = workers(2)
    wait_for(lambda: len(store.read_metrics(run_id)) >= 3, 60, "training to start")
    first = store.get_run(run_id).worker
    owner = next(p for p in procs if horse_of(p.pid))
    horse = horse_of(owner.pid)
    # Redis goes away for 2.5 lease TTLs, and the horse stalls meanwhile (as under heavy swapping),
    # so the other worker's reaper requeues the run and trains it: the stalled horse must then
    # write nothing more. Before fencing it carried on beside its successor (epochs 1, 2, 2, 3, 3).
    os.kill(horse, signal.SIGSTOP)
    try:
        crash_redis(redis_server, down_s=5.0)
        store = RunStore(connection.connect(redis_server.url))
        wait_for(lambda: store.get_run(run_id).worker not in (None, "", first), 60, "another worker to take the run")
    finally:
        os.kill(horse, signal.SIGCONT)
    wait_for(lambda: store.get_run(run_id).status in (RunStatus.FINISHED, RunStatus.FAILED), 90, "the run to end")
    record = store.get_run(run_id)
    assert record.status is RunStatus.FINISHED, record.error
    assert epochs_of(store, run_id) == [1, 2, 3], "a run was trained by two horses"
    assert all(p.poll() is None for p in procs), "a worker exited during the outage"
    assert connection.queue(store.conn).get_job_ids() == []
    wait_for(lambda: horse_of(owner.pid) is None, 30, "the stalled horse to stop")
    log = (tmp_path / f"worker{procs.index(owner)}.log").read_text()
    assert "lease lost" in log, log[-3000:]


def test_a_horse_killed_alone_resumes_from_its_checkpoint_then_fails_with_the_reason(redis_conn, workers, tmp_path):
    store = RunStore(redis_conn)
    run_id = submission.submit_run(redis_conn, RunConfig(**SLOW)).record.id
    (worker,) = workers(1, SPIKEBOARD_MAX_RESUMES="1")
    wait_for(lambda: 1 in epochs_of(store, run_id), 60, "epoch 1 to end")
    wait_for(lambda: store.get_run(run_id).progress.get("epoch") == 2, 20, "epoch 2 to start")
    os.kill(horse_of(worker.pid), signal.SIGKILL)  # as the OOM killer does: the worker lives on
    killed_at = len(store.read_metrics(run_id))

    def resumed_batches():
        return [d for _, kind, d in store.read_metrics(run_id)[killed_at:] if kind == "batch"]
    wait_for(lambda: len(resumed_batches()) >= 2, 60, "the run to train again")
    assert resumed_batches()[0]["epoch"] == 2, "the resumed run started over instead of from its checkpoint"
    assert store.get_run(run_id).status is RunStatus.RUNNING

    os.kill(horse_of(worker.pid), signal.SIGKILL)  # a second death is past SPIKEBOARD_MAX_RESUMES=1
    wait_for(lambda: store.get_run(run_id).status is RunStatus.FAILED, 30, "the run to fail")
    error = store.get_run(run_id).error
    assert "killed 2 times" in error and "SIGKILL" in error and "SPIKEBOARD_MAX_RESUMES=1" in error, error
    assert worker.poll() is None
    log = (tmp_path / "worker0.log").read_text()
    assert "resuming it from its checkpoint (1 of 1 resumes)" in log, log[-3000:]
