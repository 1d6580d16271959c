"""Leases with fencing tokens, against a real redis-server: whoever lost a lease cannot write."""

from __future__ import annotations

import time

import pytest

from snn_core.config import RunConfig
from workers.store import Keys, LeaseLost, RunStatus


def test_a_lapsed_lease_is_retaken_by_its_holder_only_while_nobody_took_it(store, redis_conn):
    run_id = store.create_run(RunConfig()).id
    horse = store.take_lease(run_id, "w1", ttl=0.2)
    assert horse is not None and store.lease_holder(run_id) == "w1"
    assert store.take_lease(run_id, "w2", ttl=5) is None, "a second horse took a held lease"
    assert store.claim_lease(run_id, "reaper:w2", 5) is None
    time.sleep(0.3)  # lapsed, as when Redis was away longer than the TTL
    assert store.lease_holder(run_id) is None
    store.append_metric(run_id, "epoch", {"epoch": 1}, fence=horse)  # nobody took it: the horse carries on
    assert store.lease_holder(run_id) == "w1" and store.renew_lease(horse)

    time.sleep(0.3)
    claim = store.claim_lease(run_id, "reaper:w2", 5)  # a reaper saw it lapsed and requeues the run
    assert claim is not None and store.lease_holder(run_id) == "reaper:w2"
    successor = store.take_lease(run_id, "w2", ttl=5)  # the new horse takes over the claim
    assert successor is not None and store.lease_holder(run_id) == "w2"

    before = redis_conn.xlen(Keys.metrics(run_id))
    with pytest.raises(LeaseLost, match="now held by w2"):
        store.append_metric(run_id, "epoch", {"epoch": 2}, fence=horse)
    for write in (lambda: store.save_checkpoint(run_id, b"stale", fence=horse),
                  lambda: store.save_probes(run_id, 2, {}, fence=horse),
                  lambda: store.update_progress(run_id, {"epoch": 2}, fence=horse),
                  lambda: store.set_status(run_id, RunStatus.FINISHED, fence=horse),
                  lambda: store.set_fields(run_id, fence=horse, last_metrics={"epoch": 2})):
        with pytest.raises(LeaseLost):
            write()
    assert not store.renew_lease(horse) and not store.holds_lease(horse)
    store.release_lease(horse)  # a lost lease is not the loser's to drop
    assert store.lease_holder(run_id) == "w2"
    assert redis_conn.xlen(Keys.metrics(run_id)) == before and store.load_checkpoint(run_id) is None
    assert store.get_run(run_id).status is RunStatus.QUEUED and store.probe_epochs(run_id) == []
    store.append_metric(run_id, "epoch", {"epoch": 2}, fence=successor)
    assert [e["epoch"] for e in store.epoch_history(run_id)] == [1, 2]


def test_a_worker_inherits_only_its_own_horses_lease(store):
    run_id = store.create_run(RunConfig()).id
    horse = store.take_lease(run_id, "w1", ttl=5)
    assert store.take_over_lease(run_id, "w2", 5) is None
    claim = store.take_over_lease(run_id, "w1", 5)  # w1's horse died: w1 settles the run at once
    assert claim is not None and store.lease_holder(run_id) == "worker:w1"
    with pytest.raises(LeaseLost):
        store.update_progress(run_id, {}, fence=horse)
    store.set_status(run_id, RunStatus.QUEUED, fence=claim)
    assert store.take_over_lease(run_id, "w1", 5) is None, "the claim is not a horse of w1"

    other = store.create_run(RunConfig(seed=3)).id
    done = store.take_lease(other, "w1", ttl=5)
    store.release_lease(done)  # a horse that ended released its lease; its worker still settles it
    assert store.take_over_lease(other, "w1", 5) is not None


def test_a_deleted_run_refuses_its_horses_writes(store, redis_conn):
    run_id = store.create_run(RunConfig()).id
    horse = store.take_lease(run_id, "w1", ttl=5)
    store.delete_run(run_id)
    with pytest.raises(LeaseLost):
        store.append_metric(run_id, "batch", {"loss": 1.0}, fence=horse)
    assert redis_conn.keys(f"{Keys.run(run_id)}*") == []
