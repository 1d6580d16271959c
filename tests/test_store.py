"""The run store against a real redis-server: records, index, streams, probes, checkpoints, sweeps."""

from __future__ import annotations

import time
import zlib

import pytest

from snn_core.config import RunConfig
from workers.store import SCHEMA_VERSION, Keys, RunRecord, RunStatus, RunStore

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def store(redis_conn) -> RunStore:
    return RunStore(redis_conn)


def test_create_and_read_a_run(store):
    config = RunConfig(beta=0.9, T=20)
    record = store.create_run(config, tags=["lab", "baseline"])
    got = store.get_run(record.id)
    assert got == record
    assert got.status is RunStatus.QUEUED and got.schema == SCHEMA_VERSION
    assert got.run_config() == config and got.config_hash == config.config_hash()
    assert got.duration is None and got.tags == ["lab", "baseline"]
    assert store.get_run("nope") is None
    assert store.ensure_schema() == SCHEMA_VERSION


def test_status_fields_and_duration(store):
    record = store.create_run(RunConfig())
    store.set_status(record.id, RunStatus.RUNNING, started_at=100.0, worker="w1", device="cpu")
    store.update_progress(record.id, {"epoch": 1, "batch": 3, "batches": 10, "percent": 3.0, "eta_s": 9.5})
    store.set_status(record.id, "finished", finished_at=130.5, last_metrics={"test_acc": 0.9})
    got = store.get_run(record.id)
    assert got.status is RunStatus.FINISHED and got.worker == "w1" and got.duration == 30.5
    assert got.progress["batch"] == 3 and got.last_metrics == {"test_acc": 0.9}
    store.set_status(record.id, RunStatus.FAILED, error=None)
    with pytest.raises(ValueError, match="status must be one of .*'done'"):
        store.set_status(record.id, "done")
    with pytest.raises(ValueError, match="cannot set run field"):
        store.set_status(record.id, RunStatus.FAILED, colour="red")
    with pytest.raises(ValueError, match="run_id not found: 'missing'"):
        store.set_status("missing", RunStatus.FAILED)


def test_tags_note_and_bad_tags(store):
    record = store.create_run(RunConfig())
    store.set_tags(record.id, ["a", " b "])
    store.set_note(record.id, "looks good")
    got = store.get_run(record.id)
    assert got.tags == ["a", "b"] and got.note == "looks good"
    with pytest.raises(ValueError, match="tags must be"):
        store.set_tags(record.id, "abc")
    with pytest.raises(ValueError, match="tags must be non-empty strings, got ''"):
        store.set_tags(record.id, [""])


def test_list_runs_is_newest_first_with_filters_and_fast_for_thousands(store):
    a = store.create_run(RunConfig(seed=1), tags=["x"])
    b = store.create_run(RunConfig(seed=2), sweep_id="s1")
    c = store.create_run(RunConfig(seed=3))
    store.set_status(c.id, RunStatus.FINISHED)
    assert [r.id for r in store.list_runs()] == [c.id, b.id, a.id]
    assert [r.id for r in store.list_runs(limit=2)] == [c.id, b.id]
    assert [r.id for r in store.list_runs(status="finished")] == [c.id]
    assert [r.id for r in store.list_runs(sweep_id="s1")] == [b.id]
    assert [r.id for r in store.list_runs(tag="x")] == [a.id]
    with pytest.raises(ValueError, match="status must be one of"):
        store.list_runs(status="bogus")

    for seed in range(3000):
        store.create_run(RunConfig(seed=100 + seed))
    started = time.perf_counter()
    runs = store.list_runs()
    took = time.perf_counter() - started
    assert len(runs) == store.count_runs() == 3003
    assert took < 2.0, f"listing 3000 runs took {took:.2f}s"


def test_metrics_stream_reads_from_the_last_seen_id(store):
    run_id = store.create_run(RunConfig()).id
    first = store.append_metric(run_id, "batch", {"loss": 1.0})
    store.append_metric(run_id, "epoch", {"epoch": 1, "test_acc": 0.5})
    store.append_metric(run_id, "batch", {"loss": 0.5})
    store.append_metric(run_id, "epoch", {"epoch": 2, "test_acc": 0.6})
    entries = store.read_metrics(run_id)
    assert [k for _, k, _ in entries] == ["batch", "epoch", "batch", "epoch"]
    assert [d for _, _, d in store.read_metrics(run_id, after=first, count=1)] == [{"epoch": 1, "test_acc": 0.5}]
    assert store.read_metrics(run_id, after=entries[-1][0]) == []
    assert [e["epoch"] for e in store.epoch_history(run_id)] == [1, 2]
    with pytest.raises(ValueError, match="kind must be one of batch, epoch; got 'step'"):
        store.append_metric(run_id, "step", {})


def test_probes_are_compressed_and_latest_is_default(store, redis_conn):
    run_id = store.create_run(RunConfig()).id
    assert store.load_probes(run_id) is None and store.probe_epochs(run_id) == []
    big = {"epoch": 1, "probes": [{"membranes": [[0.1234] * 100] * 50} for _ in range(10)]}
    store.save_probes(run_id, 1, big)
    store.save_probes(run_id, 2, {"epoch": 2, "probes": []})
    assert store.probe_epochs(run_id) == [1, 2]
    assert store.load_probes(run_id)["epoch"] == 2 and store.load_probes(run_id, 1) == big
    raw = redis_conn.hget(Keys.probes(run_id), "1")
    assert len(raw) < len(zlib.decompress(raw)) / 10


def test_checkpoint_cancel_lease_and_delete(store, redis_conn):
    config = RunConfig(seed=5)
    run_id = store.create_run(config).id
    assert store.load_checkpoint(run_id) is None
    store.save_checkpoint(run_id, b"\x00\x01binary")
    assert store.load_checkpoint(run_id) == b"\x00\x01binary"
    assert not store.cancel_requested(run_id)
    store.request_cancel(run_id)
    assert store.cancel_requested(run_id)
    assert store.take_lease(run_id, "w1", ttl=10) is not None
    assert store.lease_holder(run_id) == "w1" and not store.claim_lease(run_id, "reaper", 5)
    store.set_status(run_id, RunStatus.RUNNING)
    assert store.active_run_ids() == [run_id]
    store.append_metric(run_id, "batch", {"loss": 1})
    store.save_probes(run_id, 1, {})
    assert store.find_by_hash(config.config_hash()).id == run_id

    store.delete_run(run_id)
    assert store.get_run(run_id) is None and store.count_runs() == 0
    assert store.find_by_hash(config.config_hash()) is None and store.active_run_ids() == []
    assert [k for k in redis_conn.keys("spikeboard:run:*")] == []


def test_config_hash_keeps_pointing_at_a_reusable_run(store):
    config = RunConfig(seed=9)
    first = store.create_run(config)
    store.set_status(first.id, RunStatus.FINISHED)
    store.create_run(config)  # a forced rerun: the finished one stays the dedup answer
    assert store.find_by_hash(config.config_hash()).id == first.id
    store.set_status(first.id, RunStatus.FAILED)
    third = store.create_run(config)
    assert store.find_by_hash(config.config_hash()).id == third.id


def test_sweeps(store):
    base = RunConfig(T=10)
    sweep_id = store.create_sweep(base, {"beta": [0.5, 0.9]})
    store.set_sweep_runs(sweep_id, ["r1", "r2"])
    sweep = store.get_sweep(sweep_id)
    assert sweep["base"] == base.to_dict() and sweep["axes"] == {"beta": [0.5, 0.9]}
    assert sweep["run_ids"] == ["r1", "r2"]
    later = store.create_sweep(base, {"T": [5]})
    assert [s["id"] for s in store.list_sweeps()] == [later, sweep_id]
    assert store.get_sweep("nope") is None


def test_records_from_an_older_schema_still_read(store, redis_conn):
    # A schema-1 record written before `note`, `tags` and `progress` existed.
    redis_conn.hset(Keys.run("old"), mapping={"id": "old", "config": RunConfig().to_json(), "config_hash": "h",
                                             "status": "finished", "created_at": "1.5"})
    got = store.get_run("old")
    assert got.note == "" and got.tags == [] and got.progress is None and got.schema == SCHEMA_VERSION
    assert RunRecord.from_dict(got.to_dict()) == got
    assert store.ping()


def test_batch_points_are_one_stream_entry_read_back_point_by_point(store, redis_conn):
    """A flush of batch points is one XADD (kind "batches"), read back as "batch" entries sharing its id;
    the older one-entry-per-point layout still reads, and a group no worker writes is an error, not skipped."""
    run_id = store.create_run(RunConfig()).id
    key = Keys.metrics(run_id)
    redis_conn.xadd(key, {"kind": "batch", "data": '{"batch": 1, "loss": 2.0}'})  # the older layout
    points = [{"batch": b, "loss": 1.0 / b} for b in (2, 3, 4)]
    store.append_metrics(run_id, "batch", points, progress={"batch": 4})
    assert redis_conn.xlen(key) == 2
    entries = store.read_metrics(run_id)
    assert [(k, d["batch"]) for _, k, d in entries] == [("batch", 1), ("batch", 2), ("batch", 3), ("batch", 4)]
    assert len({eid for eid, _, _ in entries[1:]}) == 1  # one group, one id
    assert store.read_metrics(run_id, after=entries[-1][0]) == []
    assert store.get_run(run_id).progress == {"batch": 4}  # in the same write

    redis_conn.xadd(key, {"kind": "batches", "data": '[{"batch": 5}, 7]'})  # not what a worker writes
    with pytest.raises(ValueError, match="batch points must be a list of objects, got"):
        store.read_metrics(run_id)
