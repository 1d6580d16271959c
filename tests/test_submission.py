"""What Launch shows is what submit queues: `packing.plan_jobs` against the real queue (real redis-server,
no workers), a sweep planned by its caller, and tags on a sweep's new runs."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from snn_core.lab import STUDIES
from snn_core.limits import estimate_peak_bytes
from workers import capacity, connection, packing, submission
from workers.store import RunStore

pytestmark = pytest.mark.timeout(30)

BIG = RunConfig(T=100, batch_size=256, hidden=[1000], epochs=1)  # ~2 of these fit in 4 GB, not 6


def queued_members(conn) -> list[list[str]]:
    jobs = connection.queue(conn).get_jobs()
    return [job.args[0] if isinstance(job.args[0], list) else [job.args[0]] for job in jobs]


def test_the_planned_jobs_are_the_queued_jobs_when_memory_cuts_the_packs(redis_conn, monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_MAX_RUN_MEMORY_GB", "4")
    assert estimate_peak_bytes(BIG, 6) > 4 * 2**30 >= estimate_peak_bytes(BIG, 2)
    axes = {"beta": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0], "T": [5, 100]}
    plan = submission.plan_sweep(redis_conn, BIG, axes)
    assert redis_conn.dbsize() == 0  # planning writes nothing
    # pack_groups alone (what Launch counted before) would say 2 jobs of 6: memory cuts the T=100 ones.
    assert len(plan.jobs) > 2 and sorted(i for job in plan.jobs for i in job) == list(range(12))
    result = submission.submit_sweep(redis_conn, BIG, axes)
    ids = [r.record.id for r in result.results]
    assert queued_members(redis_conn) == [[ids[i] for i in job] for job in plan.jobs]  # same jobs, same order
    assert plan.estimate.seconds == pytest.approx(capacity.estimate(redis_conn, plan.configs, packed=True).seconds)


def test_plan_jobs_puts_the_costliest_job_first_and_each_run_alone_unpacked():
    configs = [RunConfig(T=5, beta=0.5), RunConfig(T=50), RunConfig(T=5, beta=0.9)]
    assert packing.plan_jobs(configs) == [[1], [0, 2]]
    assert sorted(packing.plan_jobs(configs, packed=False)) == [[0], [1], [2]]


def test_a_sweep_planned_by_its_caller_is_submitted_as_planned(redis_conn):
    study = STUDIES["beta"]
    axes = {study.field: list(study.values), "seed": [0]}
    planned = study.configs(1, train_limit=64, test_limit=32)
    base = study.base.replace(train_limit=64, test_limit=32)
    [result] = submission.submit_sweeps(redis_conn, [(base, axes, planned)])
    store = RunStore(redis_conn)
    assert [store.get_run(r.record.id).config_hash for r in result.results] == [c.config_hash() for c in planned]
    with pytest.raises(ValueError, match="6 runs, got 5 planned configs"):
        submission.submit_sweeps(redis_conn, [(base, axes, planned[:5])])
    with pytest.raises(ValueError, match="sweep axes repeat a value"):
        submission.submit_sweeps(redis_conn, [(base, axes, [planned[0]] * 6)])


def test_a_sweeps_tags_go_on_its_new_runs_only(redis_conn):
    earlier = submission.submit_run(redis_conn, RunConfig(epochs=1, beta=0.5), tags=["old"]).record.id
    result = submission.submit_sweep(redis_conn, RunConfig(epochs=1), {"beta": [0.5, 0.9]}, tags=["mine"])
    store = RunStore(redis_conn)
    assert [store.get_run(r.record.id).tags for r in result.results] == [["old"], ["mine"]]
    assert result.results[0].record.id == earlier
