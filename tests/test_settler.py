"""A job's settle off its worker's critical path (`workers.settler`), with a real redis-server (AOF,
everysec: where waiting helps) and a real worker process: the worker trains its next job while the
previous run's settler still holds that run's lease, and the settler lets go once it has settled."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from workers import submission
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of
from tests.test_replay import alive, settler_of

pytestmark = pytest.mark.timeout(120)

TINY = dict(T=4, hidden=(8,), epochs=1, batch_size=64, train_limit=256, test_limit=100)


def test_the_worker_trains_its_next_job_while_the_last_run_settles(redis_conn, workers, tmp_path):
    store = RunStore(redis_conn)
    first, second = (submission.submit_run(redis_conn, RunConfig(**TINY, lr=lr)).record.id for lr in (1e-3, 2e-3))
    (worker,) = workers(1, SPIKEBOARD_DURABLE_S="4")  # a settle of 4 s: long past the next job's start
    settler = settler_of(tmp_path / "worker0.log", first)
    wait_for(lambda: store.get_run(second).status is not RunStatus.QUEUED, 30, "the second run to start")
    assert alive(settler), "the second job began only after the first run's settle: the worker waited for it"
    assert store.lease_holder(first) == store.get_run(first).worker, "the settler does not hold the run's lease"
    assert store.get_run(first).status is RunStatus.FINISHED

    wait_for(lambda: not alive(settler), 30, "the settler to exit")
    assert store.lease_holder(first) is None, "the settler left the lease held"
    wait_for(lambda: store.get_run(second).status is RunStatus.FINISHED, 60, "the second run to finish")
    assert epochs_of(store, first) == [1] and epochs_of(store, second) == [1]
    log = (tmp_path / "worker0.log").read_text()
    assert "requeue" not in log and "resuming" not in log, log[-3000:]


def test_a_run_whose_horse_dies_waiting_for_a_settlers_lease_is_queued_again(redis_conn, workers, tmp_path):
    """A job for a run still settled by another process (a search's promoted trial) waits for the lease in
    its horse. Its worker killed -9 then takes the job with it: without the reapers, the run stayed
    queued with no job for good, and its search never ended."""
    store = RunStore(redis_conn)
    record = store.create_run(RunConfig(**TINY))
    settling = store.take_lease(record.id, "a-settler", ttl=60)  # held on, as a settler holds it
    store.set_status(record.id, RunStatus.HELD, fence=settling)  # the run's end is written: it only settles
    store.set_status(record.id, RunStatus.QUEUED, hold_at=0)  # then promoted: a job for it is queued
    submission.enqueue_new(redis_conn, [store.require_run(record.id)], packed=False)
    (doomed,) = workers(1)
    wait_for(lambda: record.id in store.active_run_ids(), 30, "the horse to wait for the lease")
    doomed.kill()  # -9: its horse dies with it (PR_SET_PDEATHSIG), and the job with both
    doomed.wait(10)
    store.release_lease(settling)  # the settler lets go
    workers(1)
    wait_for(lambda: store.get_run(record.id).status is RunStatus.FINISHED, 60, "the run to be queued again and train")
    assert epochs_of(store, record.id) == [1]
    assert record.id not in store.active_run_ids()
    assert "queueing it again" in (tmp_path / "worker1.log").read_text()
