"""The job system end to end: a real redis-server, real `python -m workers` processes, tiny data."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig
from workers import connection, submission
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(90)

TINY = dict(T=5, epochs=2, train_limit=300, test_limit=100, batch_size=32)
# About 2-3 s an epoch on one CPU thread: long enough to cancel, kill or stop mid-epoch.
SLOW = dict(T=100, hidden=(64,), epochs=3, batch_size=8, train_limit=1600, test_limit=100)


def submit(conn, **fields) -> str:
    return submission.submit_run(conn, RunConfig(**fields)).record.id


def test_a_run_goes_queued_running_finished_and_survives_a_redis_restart(redis_server, redis_conn, workers):
    store = RunStore(redis_conn)
    run_id = submit(redis_conn, **TINY)
    seen = [store.get_run(run_id).status]
    workers(1)
    def done():
        status = store.get_run(run_id).status
        if status != seen[-1]:
            seen.append(status)
        return status in (RunStatus.FINISHED, RunStatus.FAILED)
    wait_for(done, 60, "the run to finish", interval=0.01)
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FINISHED]

    record = store.get_run(run_id)
    assert record.device == "cpu" and record.worker and record.error == ""
    assert record.last_metrics["epoch"] == 2 and 0 <= record.last_metrics["test_acc"] <= 1
    assert record.best_metrics["test_acc"] >= record.last_metrics["test_acc"]
    assert record.progress["percent"] == 100.0 and record.duration > 0
    kinds = [kind for _, kind, _ in store.read_metrics(run_id)]
    assert "batch" in kinds and epochs_of(store, run_id) == [1, 2]
    assert store.probe_epochs(run_id) == [1, 2]
    probes = store.load_probes(run_id)
    assert probes["epoch"] == 2 and len(probes["probes"]) == 10 and probes["T"] == 5
    assert store.load_checkpoint(run_id)
    job = Job.fetch(run_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.meta["progress"]["percent"] == 100.0

    redis_server.restart()
    store = RunStore(connection.connect(redis_server.url))
    again = store.get_run(run_id)
    assert again.status is RunStatus.FINISHED and again.last_metrics == record.last_metrics
    assert epochs_of(store, run_id) == [1, 2] and store.probe_epochs(run_id) == [1, 2]
    assert store.load_checkpoint(run_id) and store.list_runs()[0].id == run_id


def test_a_redis_restart_mid_run_pauses_the_run_and_it_finishes(redis_server, redis_conn, workers):
    store = RunStore(redis_conn)
    run_id = submit(redis_conn, **SLOW)
    workers(1, SPIKEBOARD_LEASE_TTL="15")  # the lease outlives the restart: nobody requeues the run
    wait_for(lambda: any(kind == "batch" for _, kind, _ in store.read_metrics(run_id)), 60, "training to start")
    redis_server.restart()
    store = RunStore(connection.connect(redis_server.url))
    wait_for(lambda: store.get_run(run_id).status in (RunStatus.FINISHED, RunStatus.FAILED), 90, "the run to end")
    record = store.get_run(run_id)
    assert record.status is RunStatus.FINISHED, record.error
    assert epochs_of(store, run_id) == [1, 2, 3]


def test_cancel_stops_a_running_run_within_seconds_and_keeps_its_metrics(redis_conn, workers):
    store = RunStore(redis_conn)
    run_id = submit(redis_conn, **SLOW)
    workers(1)
    wait_for(lambda: len(store.read_metrics(run_id)) >= 3, 60, "a few batch points")
    started = time.monotonic()
    assert submission.cancel_run(redis_conn, run_id).status is RunStatus.CANCELLED
    # The horse is gone once no worker holds the run's lease and the stream stops growing.
    wait_for(lambda: store.lease_holder(run_id) is None, 5, "the work horse to stop")
    took = time.monotonic() - started
    count = len(store.read_metrics(run_id))
    time.sleep(0.5)
    assert len(store.read_metrics(run_id)) == count, "metrics still arriving after cancel"
    assert took < 3, f"cancel took {took:.2f}s"
    record = store.get_run(run_id)
    assert record.status is RunStatus.CANCELLED and record.finished_at is not None
    assert count >= 3  # partial metrics kept


def test_killed_worker_run_resumes_on_another_worker(redis_conn, workers):
    store = RunStore(redis_conn)
    run_id = submit(redis_conn, **SLOW)
    first, = workers(1)
    wait_for(lambda: 1 in epochs_of(store, run_id), 60, "epoch 1 to end")
    first_worker = store.get_run(run_id).worker
    wait_for(lambda: store.get_run(run_id).progress.get("epoch") == 2, 10, "epoch 2 to start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    killed_at = len(store.read_metrics(run_id))

    workers(1)
    wait_for(lambda: store.get_run(run_id).status is RunStatus.FINISHED, 60, "the run to finish elsewhere")
    record = store.get_run(run_id)
    assert record.worker != first_worker
    assert epochs_of(store, run_id) == [1, 2, 3]
    after = [d for _, kind, d in store.read_metrics(run_id)[killed_at:] if kind == "batch"]
    assert after[0]["epoch"] == 2, "resumed run started over instead of from its epoch-1 checkpoint"


def test_sigterm_checkpoints_mid_epoch_and_requeues(redis_conn, workers):
    store = RunStore(redis_conn)
    run_id = submit(redis_conn, **{**SLOW, "epochs": 1})
    first, = workers(1)
    wait_for(lambda: len(store.read_metrics(run_id)) >= 5, 60, "a few batch points")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == 0
    record = store.get_run(run_id)
    assert record.status is RunStatus.QUEUED
    stopped_at = [d for _, kind, d in store.read_metrics(run_id) if kind == "batch"][-1]["batch"]
    assert connection.queue(redis_conn).get_job_ids() == [run_id]

    workers(1, burst=True)[0].wait(timeout=60)
    assert store.get_run(run_id).status is RunStatus.FINISHED
    batches = [d["batch"] for _, kind, d in store.read_metrics(run_id) if kind == "batch"]
    resumed = batches[batches.index(stopped_at) + 1]
    assert resumed > stopped_at, f"resumed at batch {resumed}, stopped at {stopped_at}: it restarted"


def test_two_workers_share_ten_runs_without_mixing_metrics(redis_conn, workers):
    store = RunStore(redis_conn)
    # Each run has its own batch count, so an entry in the wrong stream would show.
    ids = {submit(redis_conn, T=5, epochs=1, train_limit=64 * (i + 1), test_limit=50, batch_size=64, seed=i): i + 1
           for i in range(10)}
    for proc in workers(2, burst=True):
        assert proc.wait(timeout=80) == 0
    names = set()
    for run_id, batches in ids.items():
        record = store.get_run(run_id)
        assert record.status is RunStatus.FINISHED, (run_id, record.status, record.error)
        names.add(record.worker)
        entries = store.read_metrics(run_id)
        assert {d["batches"] for _, kind, d in entries if kind == "batch"} == {batches}
        assert epochs_of(store, run_id) == [1]
    assert len(names) == 2


def test_a_pack_reads_all_its_cancel_flags_in_one_round_trip_per_interval(redis_conn, monkeypatch):
    """Every member asks after every batch; Redis is asked once per CANCEL_CHECK_S for all of them,
    and a flag set meanwhile is seen at the next interval, for its run only."""
    from workers import publisher
    from workers.store import RunStore

    store = RunStore(redis_conn)
    ids = [store.create_run(RunConfig(beta=0.5 + 0.01 * i)).id for i in range(5)]
    calls = []
    real = store.cancels_requested
    monkeypatch.setattr(store, "cancels_requested", lambda run_ids: calls.append(list(run_ids)) or real(run_ids))
    monkeypatch.setattr(publisher, "CANCEL_CHECK_S", 0.2)
    watch = publisher.CancelWatch(store, ids)
    assert not any(watch.requested(i) for _ in range(10) for i in ids)
    assert calls == [ids]
    store.request_cancel(ids[2])
    assert not watch.requested(ids[2])  # not asked again yet
    time.sleep(0.25)
    assert [watch.requested(i) for i in ids] == [False, False, True, False, False]
    assert len(calls) == 2
