"""The run-events stream and held runs, through a real worker: an event exists iff the write it reports."""

from __future__ import annotations

import pytest

from snn_core import checkpoint as ckpt_io
from snn_core.config import RunConfig
from workers import submission
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of
from tests.searchkit import TINY

pytestmark = pytest.mark.timeout(180)


def _events(store: RunStore, run_id: str) -> list[tuple[str, int, str]]:
    return [(e["kind"], e["epoch"], e["status"]) for _, e in store.read_events() if e["run_id"] == run_id]


def test_a_held_run_stops_at_its_hold_and_resumes_from_its_checkpoint(redis_conn, workers):
    store = RunStore(redis_conn)
    record = store.create_run(RunConfig(**{**TINY, "epochs": 3}))
    store.set_fields(record.id, hold_at=1)
    submission.enqueue_new(redis_conn, [store.get_run(record.id)], packed=True)
    plain = submission.submit_run(redis_conn, RunConfig(**{**TINY, "epochs": 2, "beta": 0.5})).record
    workers(1)
    wait_for(lambda: store.get_run(record.id).status is RunStatus.HELD, 90, "the run to be held")
    assert epochs_of(store, record.id) == [1]
    assert ckpt_io.from_bytes(store.load_checkpoint(record.id))["epoch"] == 1
    assert _events(store, record.id) == [("epoch", 1, "running"), ("held", 0, "held")]
    assert record.id not in store.active_run_ids()  # the reaper leaves a held run alone

    store.set_status(record.id, RunStatus.QUEUED, hold_at=0)
    submission.enqueue_new(redis_conn, [store.get_run(record.id)], packed=True)
    wait_for(lambda: store.get_run(record.id).status is RunStatus.FINISHED, 90, "the promoted run to finish")
    assert epochs_of(store, record.id) == [1, 2, 3]  # resumed at epoch 2: no epoch trained twice
    assert _events(store, record.id) == [("epoch", 1, "running"), ("held", 0, "held"), ("epoch", 2, "running"),
                                         ("epoch", 3, "running"), ("finished", 0, "finished")]
    wait_for(lambda: store.get_run(plain.id).status is RunStatus.FINISHED, 60, "the plain run")
    assert _events(store, plain.id) == [("epoch", 1, "running"), ("epoch", 2, "running"),
                                        ("finished", 0, "finished")]


def test_a_run_promoted_while_its_horse_still_settles_is_trained_not_dropped(redis_conn, workers):
    """A search promotes a held run the moment its event arrives, while the horse that held it still
    keeps the lease to settle (2 s here): the next job waits for the lease instead of dropping the run."""
    store = RunStore(redis_conn)
    record = store.create_run(RunConfig(**{**TINY, "epochs": 2}))
    store.set_fields(record.id, hold_at=1)
    submission.enqueue_new(redis_conn, [store.get_run(record.id)], packed=True)
    workers(2, SPIKEBOARD_DURABLE_S="2")
    wait_for(lambda: store.get_run(record.id).status is RunStatus.HELD, 90, "the run to be held", interval=0.01)
    assert store.lease_holder(record.id) is not None  # its horse is settling: the case under test
    store.set_status(record.id, RunStatus.QUEUED, hold_at=0)
    submission.enqueue_new(redis_conn, [store.get_run(record.id)], packed=True)
    wait_for(lambda: store.get_run(record.id).status is RunStatus.FINISHED, 60, "the promoted run to finish")
    assert epochs_of(store, record.id) == [1, 2]


def test_status_writes_without_a_worker_emit_events_too(redis_conn):
    store = RunStore(redis_conn)
    queued = submission.submit_run(redis_conn, RunConfig(**TINY)).record
    submission.cancel_run(redis_conn, queued.id)
    assert _events(store, queued.id) == [("cancelled", 0, "cancelled")]
    store.set_status(queued.id, RunStatus.QUEUED)  # no event: nobody waits on a run being queued
    assert len(_events(store, queued.id)) == 1
