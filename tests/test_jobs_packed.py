"""Sweeps trained as packed jobs on a real worker: one stream and record per run, cancel per member."""

from __future__ import annotations

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig
from snn_core.data import load_data
from snn_core.training import fit
from workers import submission
from workers.store import RunStatus, RunStore
from tests.test_jobs import SLOW, TINY, epochs_of, wait_for

pytestmark = pytest.mark.timeout(120)


def test_a_sweep_trains_as_one_packed_job_with_a_stream_per_run(redis_conn, workers, synthetic_data_dir):
    store = RunStore(redis_conn)
    base = RunConfig(**TINY)
    result = submission.submit_sweep(redis_conn, base, {"beta": [0.5, 0.9], "loss": ["mse", "ce"]})
    records = [r.record for r in result.results]
    jobs = {r.pack_job for r in map(store.get_run, (r.id for r in records))}
    assert len(jobs) == 1 and next(iter(jobs)).startswith(submission.PACK_JOB_PREFIX)
    job = Job.fetch(next(iter(jobs)), connection=redis_conn, serializer=JSONSerializer)
    assert job.func_name == submission.PACK_JOB_FUNCTION and sorted(job.args[0]) == sorted(r.id for r in records)

    workers(1)
    wait_for(lambda: all(store.get_run(r.id).status is RunStatus.FINISHED for r in records), 90, "the packed sweep")
    data = load_data("mnist", str(synthetic_data_dir), "cpu", base.train_limit, base.test_limit)
    for record in records:
        assert epochs_of(store, record.id) == [1, 2]
        assert store.probe_epochs(record.id) == [1, 2]
        history = store.epoch_history(record.id)
        solo = fit(record.run_config().replace(data_dir=str(synthetic_data_dir), device="cpu"), data=data).history
        for got, want in zip(history, solo):
            assert got["test_acc"] == pytest.approx(want.test_acc, abs=1e-6)
            assert got["train_loss"] == pytest.approx(want.train_loss, rel=1e-4)
        assert {d["epoch"] for _, kind, d in store.read_metrics(record.id) if kind == "batch"} == {1, 2}


def test_cancelling_one_member_leaves_the_others_running(redis_conn, workers):
    store = RunStore(redis_conn)
    base = RunConfig(**{**SLOW, "epochs": 2})
    result = submission.submit_sweep(redis_conn, base, {"beta": [0.6, 0.8, 0.95]})
    victim, *others = [r.record.id for r in result.results]
    workers(1)
    wait_for(lambda: any(kind == "batch" for _, kind, _ in store.read_metrics(victim)), 60, "the pack to start")
    submission.cancel_run(redis_conn, victim)
    wait_for(lambda: all(store.get_run(r).status is RunStatus.FINISHED for r in others), 110, "the other members")
    assert store.get_run(victim).status is RunStatus.CANCELLED
    assert epochs_of(store, victim) == [] or len(epochs_of(store, victim)) < 2
    assert any(kind == "batch" for _, kind, _ in store.read_metrics(victim))  # partial metrics kept
    for run_id in others:
        assert epochs_of(store, run_id) == [1, 2]


def test_a_surrogate_sweep_of_latency_runs_packs_per_surrogate_and_trains_on_a_worker(redis_conn, workers):
    store = RunStore(redis_conn)
    base = RunConfig(**{**TINY, "encoder": "latency", "v_th": 0.5})
    result = submission.submit_sweep(redis_conn, base, {"surrogate": ["sigmoid", "fast_sigmoid", "arctan"],
                                                     "beta": [0.5, 0.9]})
    records = [store.get_run(r.record.id) for r in result.results]
    jobs = {}
    for r in records:
        jobs.setdefault(r.pack_job, set()).add(r.config["surrogate"])
    assert len(jobs) == 3 and all(len(s) == 1 for s in jobs.values())  # a pack shares one surrogate
    workers(1)
    wait_for(lambda: all(store.get_run(r.id).status is RunStatus.FINISHED for r in records), 90, "the sweep")
    for r in records:
        assert epochs_of(store, r.id) == [1, 2]
        probe = store.load_probes(r.id)["probes"][0]
        assert probe["input"]["kind"] == "spikes" and probe["input"]["events"]  # latency: a binary train
        assert len({t for t, _ in probe["input"]["events"]}) > 1  # spikes at several steps, one per pixel
        assert len({p for _, p in probe["input"]["events"]}) == len(probe["input"]["events"])
