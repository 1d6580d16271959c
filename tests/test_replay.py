"""Writes a Redis crash lost, written again by the horse's journal (`workers.replay`).

A real redis-server is killed with -9 and its append-only file cut before a chosen write (the loss
everysec allows, made certain: see tests/aofkit.py), then started again on its port and AOF dir.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import torch

from snn_core.config import RunConfig
from snn_core.training import fit
from workers import connection, submission
from workers.replay import Journal, settle_all
from workers.store import LeaseLost, RunStatus, RunStore

from tests.aofkit import crash_losing, epoch_entry
from bench.procs import wait_for
from tests.jobkit import epochs_of
from tests.test_outages import horse_of

pytestmark = pytest.mark.timeout(120)

RUN = dict(T=20, hidden=(32,), epochs=3, batch_size=16, train_limit=480, test_limit=100)
TIMING = ("epoch_seconds", "samples_per_s")


def _xadd(store: RunStore, run_id: str, fence, n: int) -> None:
    store.append_metric(run_id, "epoch", {"epoch": n, "test_acc": n / 10}, fence=fence)


def test_a_lost_tail_is_written_again_once_with_its_ids_and_never_by_a_fenced_out_horse(redis_server):
    store = RunStore(connection.connect(redis_server.url, patient=True))
    run_id = store.create_run(RunConfig(T=5)).id
    fence = store.take_lease(run_id, "horse-a", ttl=60)
    journal = Journal(store, run_id, fence, window=60)
    for n in (1, 2, 3):
        _xadd(journal.store, run_id, fence, n)
    before = [eid for eid, _, _ in store.read_metrics(run_id)]

    crash_losing(redis_server, epoch_entry(run_id, 2))
    assert epochs_of(store, run_id) == [1], "the crash lost nothing: the test plants no loss"
    assert journal.check() == 2
    assert journal.check() == 0, "replaying twice wrote again"
    _xadd(journal.store, run_id, fence, 4)
    assert epochs_of(store, run_id) == [1, 2, 3, 4]
    assert [eid for eid, _, _ in store.read_metrics(run_id)][:3] == before, "replayed entries got new ids"

    crash_losing(redis_server, epoch_entry(run_id, 3))
    store.conn.delete(f"spikeboard:run:{run_id}:lease")  # it lapsed, and another horse took the run
    assert store.take_lease(run_id, "horse-b", ttl=60) is not None
    with pytest.raises(LeaseLost):
        journal.check()
    assert epochs_of(store, run_id) == [1, 2], "a horse that lost its lease replayed"


def test_an_in_flight_write_waits_for_the_lost_ones_so_the_stream_stays_in_order(redis_server):
    store = RunStore(connection.connect(redis_server.url, patient=True))
    run_id = store.create_run(RunConfig(T=5)).id
    fence = store.take_lease(run_id, "horse-a", ttl=60)
    journal = Journal(store, run_id, fence, window=60)
    for n in (1, 2, 3):
        _xadd(journal.store, run_id, fence, n)
    crash_losing(redis_server, epoch_entry(run_id, 2))
    _xadd(journal.store, run_id, fence, 4)  # the next write finds the gap itself
    assert epochs_of(store, run_id) == [1, 2, 3, 4]
    assert journal.replayed == 2


def test_settle_waits_out_the_window_then_finds_nothing_lost(redis_conn):
    store = RunStore(redis_conn)
    run_id = store.create_run(RunConfig(T=5)).id
    fence = store.take_lease(run_id, "horse-a", ttl=60)
    journal = Journal(store, run_id, fence, window=0.3)
    _xadd(journal.store, run_id, fence, 1)
    assert settle_all([journal]) == 0
    _xadd(journal.store, run_id, fence, 2)
    assert [e.seq for e in journal.entries] == [2], "a durable write was kept"


def test_settle_leaves_a_journal_that_lost_its_lease_and_settles_the_others(redis_server):
    store = RunStore(connection.connect(redis_server.url, patient=True))
    journals = []
    for holder in ("a", "b"):
        run_id = store.create_run(RunConfig(T=5, seed=len(journals))).id
        journals.append(Journal(store, run_id, store.take_lease(run_id, f"horse-{holder}", ttl=60), window=60))
    for n in (1, 2):
        for journal in journals:
            _xadd(journal.store, journal.run_id, journal.fence, n)
    lost, kept = journals
    crash_losing(redis_server, epoch_entry(lost.run_id, 1))  # loses both runs' tails
    store.conn.delete(f"spikeboard:run:{lost.run_id}:lease")
    assert store.take_lease(lost.run_id, "horse-c", ttl=60) is not None
    for journal in journals:  # kept everything so far, however slow this machine; now settle quickly
        journal.window = 0.2
    assert settle_all(journals) == 2
    assert epochs_of(store, lost.run_id) == [] and epochs_of(store, kept.run_id) == [1, 2]


def settler_of(log: Path, run_id: str, timeout: float = 30) -> int:
    """The pid of the settler a horse forked for `run_id`, from the worker's log."""
    pattern = re.compile(rf"run\(s\) [^:]*{run_id}[^:]*: settling in process (\d+)")
    found: list[int] = []
    wait_for(lambda: found.extend(int(m) for m in pattern.findall(log.read_text(errors="replace"))) or found,
             timeout, f"a settler for run {run_id} in {log}")
    return found[0]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphaned settler is reaped by init, or lingers as one)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _reference(synthetic_data_dir, fields: dict):
    """History and batch losses of the same config trained in this process, uninterrupted."""
    torch.set_num_threads(1)
    losses = {}
    from snn_core.training import Callbacks

    def on_batch(info):
        losses[(info.epoch - 1) * info.batches + info.batch] = info.loss
    result = fit(RunConfig(**fields, data_dir=str(synthetic_data_dir)), Callbacks(on_batch_end=on_batch))
    history = [{k: v for k, v in m.to_dict().items() if k not in TIMING} for m in result.history]
    return history, losses


def _as_run(store: RunStore, run_id: str):
    epochs = [{k: v for k, v in d.items() if k not in TIMING + ("health",)}
              for _, kind, d in store.read_metrics(run_id) if kind == "epoch"]
    steps = [d["step"] for _, kind, d in store.read_metrics(run_id) if kind == "batch"]
    losses = {d["step"]: d["loss"] for _, kind, d in store.read_metrics(run_id) if kind == "batch"}
    return epochs, steps, losses


@pytest.mark.parametrize("lose", ["epoch 1 mid-run", "the finish"])
def test_after_a_crash_every_epoch_is_in_the_stream_once_with_an_uninterrupted_runs_values(
        lose, redis_server, redis_conn, workers, synthetic_data_dir, tmp_path):
    store = RunStore(redis_conn)
    run_id = submission.submit_run(redis_conn, RunConfig(**RUN)).record.id
    (worker,) = workers(1, SPIKEBOARD_DURABLE_S="3")
    epoch = 1 if lose == "epoch 1 mid-run" else RUN["epochs"]
    if epoch == 1:
        wait_for(lambda: 1 in epochs_of(store, run_id), 60, "the epoch-1 point to be readable")
        horse = horse_of(worker.pid)
        assert horse is not None, "the horse exited before the crash"
    else:  # the horse has handed the settle to a settler process and exited (workers.settler)
        wait_for(lambda: store.get_run(run_id).status is RunStatus.FINISHED, 60, "the run to finish")
        horse = settler_of(tmp_path / "worker0.log", run_id)
        assert alive(horse), "the settler exited before the crash (it should settle for 3 s)"
    os.kill(horse, signal.SIGSTOP)  # so the loss can be seen before the horse (or settler) writes again
    try:
        crash_losing(redis_server, epoch_entry(run_id, epoch), down_s=1.0)
        store = RunStore(connection.connect(redis_server.url))
        assert epoch not in epochs_of(store, run_id), "the crash lost nothing: the test plants no loss"
        if epoch > 1:
            assert store.get_run(run_id).status is RunStatus.RUNNING
            assert store.load_checkpoint(run_id) is not None
    finally:
        os.kill(horse, signal.SIGCONT)
    wait_for(lambda: store.get_run(run_id).status is RunStatus.FINISHED, 60, "the run to finish")
    wait_for(lambda: horse_of(worker.pid) is None and not alive(horse), 30, "the horse and its settler to exit")

    record = store.get_run(run_id)
    epochs, steps, losses = _as_run(store, run_id)
    history, ref_losses = _reference(synthetic_data_dir, RUN)
    assert [e["epoch"] for e in epochs] == list(range(1, RUN["epochs"] + 1))
    assert epochs == history, "restored epochs differ from an uninterrupted run's"
    assert sorted(steps) == steps and len(set(steps)) == len(steps) == len(ref_losses), "a point lost or twice"
    assert losses == ref_losses
    assert record.last_metrics["epoch"] == RUN["epochs"] and record.finished_at is not None
    assert store.probe_epochs(run_id) == list(range(1, RUN["epochs"] + 1))
    assert connection.queue(store.conn).get_job_ids() == [], "the run was queued to train again"
    log = (tmp_path / "worker0.log").read_text()
    assert "writing them again" in log, log[-3000:]
    assert "requeue" not in log and "resuming" not in log, "the run was trained again"


def test_a_packed_sweep_crashed_after_epoch_1_has_every_members_epochs_once_in_order(redis_server, redis_conn,
                                                                                   workers):
    store = RunStore(redis_conn)
    result = submission.submit_sweep(redis_conn, RunConfig(**RUN), {"beta": [0.5, 0.9]})
    first, second = (r.record.id for r in result.results)
    (worker,) = workers(1, SPIKEBOARD_DURABLE_S="3")
    wait_for(lambda: 1 in epochs_of(store, first), 60, "the first member's epoch-1 point")
    horse = horse_of(worker.pid)
    os.kill(horse, signal.SIGSTOP)
    try:
        crash_losing(redis_server, epoch_entry(first, 1), down_s=1.0)
        store = RunStore(connection.connect(redis_server.url))
        assert 1 not in epochs_of(store, first), "the crash lost nothing: the test plants no loss"
    finally:
        os.kill(horse, signal.SIGCONT)
    for run_id in (first, second):
        wait_for(lambda: store.get_run(run_id).status is RunStatus.FINISHED, 60, "the pack to finish")
        _, steps, _ = _as_run(store, run_id)
        assert epochs_of(store, run_id) == [1, 2, 3]
        assert sorted(steps) == steps and len(set(steps)) == len(steps) == RUN["epochs"] * 30
        assert store.probe_epochs(run_id) == [1, 2, 3]


@pytest.mark.parametrize("appendonly, appendfsync, helps", [
    ("yes", "everysec", True), ("yes", "no", True), ("yes", "always", False), ("no", "everysec", False)])
def test_a_settle_waits_only_where_waiting_makes_writes_durable(redis_server, appendonly, appendfsync, helps):
    import redis as redis_py

    from workers.replay import waiting_helps

    conn = redis_py.Redis.from_url(redis_server.url)
    conn.config_set("appendfsync", appendfsync)
    conn.config_set("appendonly", appendonly)
    assert waiting_helps(conn) is helps
    if helps:
        return  # the wait itself: test_settle_waits_out_the_window_then_finds_nothing_lost
    store = RunStore(conn)
    run_id = store.create_run(RunConfig(T=5)).id
    fence = store.take_lease(run_id, "horse-a", ttl=60)
    journal = Journal(store, run_id, fence, window=60)
    _xadd(journal.store, run_id, fence, 1)
    began = time.monotonic()
    assert settle_all([journal], rounds=1) == 0
    assert time.monotonic() - began < 30, "a settle waited out a 60 s window that cannot make anything durable"
