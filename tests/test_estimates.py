"""Training-time estimates (workers.estimates) on planted runs whose answers are known, and
through `workers.capacity` against a real Redis."""

from __future__ import annotations

import time

import pytest

from snn_core.config import RunConfig
from workers import capacity, estimates
from workers.estimates import estimate, eval_units_per_sample, eval_work, units_per_sample, work
from workers.store import RunRecord, RunStatus, RunStore

S = estimates.START_S  # a job's fixed start, on top of its work


def finished(config: RunConfig, duration: float, n_train: int, n_test: int, pack_job: str = "", id: str = "r"):
    """A finished run as a worker leaves it: wall time, and the samples it saw in its metrics."""
    epoch_s = duration / config.epochs * 0.7
    return RunRecord(id=id, config=config.to_dict(), config_hash=config.config_hash(), status=RunStatus.FINISHED,
                     created_at=1e9, started_at=1e9, finished_at=1e9 + duration, pack_job=pack_job,
                     last_metrics={"epoch": config.epochs, "samples_per_s": n_train / epoch_s,
                                   "epoch_seconds": epoch_s, "test_samples": n_test, "test_acc": 0.8})


def test_the_data_actually_used_sets_the_work_not_an_assumed_60k():
    base = RunConfig(epochs=3)
    runs = [finished(base.replace(seed=1), duration=14.0, n_train=5000, n_test=10000)]  # MNIST-5k here
    assert estimates.dataset_sizes(runs) == {"mnist": (5000, 10000)}
    est = estimate([base], runs)
    assert est.seconds == pytest.approx(14.0)  # the same work as the measured run
    assert est.basis.startswith("from 1 run measured here") and est.measured == 1
    assert est.low < 14.0 < est.high and est.high / est.low < 2
    # A limit below the dataset's size is what a run uses; above it, the dataset's size is.
    # Training was 70 % of the measured run (its epoch seconds), evaluation the rest less the start.
    assert estimate([base.replace(train_limit=2500)], runs).seconds == pytest.approx(
        S + 0.7 * 14.0 * 2500 / 5000 + (0.3 * 14.0 - S))
    assert estimate([base.replace(train_limit=50_000)], runs).seconds == pytest.approx(14.0)


def test_wide_networks_cost_in_proportion_to_their_work_and_say_it_is_extrapolated():
    base = RunConfig(epochs=3)
    runs = [finished(base.replace(seed=1), duration=14.0, n_train=5000, n_test=10000)]
    wide = base.replace(hidden=(16384,))
    est = estimate([wide], runs)
    ratio = units_per_sample(wide) / units_per_sample(base)
    eval_ratio = eval_units_per_sample(wide) / eval_units_per_sample(base)
    assert ratio > 200 and est.seconds == pytest.approx(S + 0.7 * 14.0 * ratio + (0.3 * 14.0 - S) * eval_ratio)
    assert est.seconds > 1800  # not 1 s
    assert f"extrapolated {ratio:.0f}x" in est.basis and est.high / est.low > 8 and est.rough


def test_nearest_runs_of_the_same_encoder_calibrate_and_others_carry_over():
    base = RunConfig(epochs=1, T=10)
    slow_image = finished(base.replace(encoder="image"), duration=100.0, n_train=5000, n_test=10000, id="i")
    bern = finished(base, duration=10.0, n_train=5000, n_test=10000, id="b")
    assert estimate([base], [slow_image, bern]).seconds == pytest.approx(10.0)
    carried = estimate([base.replace(encoder="threshold")], [bern])
    sizes, thr = {"mnist": (5000, 10000)}, base.replace(encoder="threshold")
    busy = 0.7 * 10.0 * work(thr, sizes) / work(base, sizes) + (0.3 * 10.0 - S) * eval_work(thr, sizes) / eval_work(
        base, sizes)
    assert carried.seconds == pytest.approx(S + busy * estimates.FALLBACK_S_PER_UNIT[
        "threshold"] / estimates.FALLBACK_S_PER_UNIT["bernoulli"])
    assert "no threshold run measured yet" in carried.basis


def test_nothing_measured_is_a_rough_guess_that_says_so():
    est = estimate([RunConfig(epochs=1)], [])
    assert est.measured == 0 and est.rough and "no run measured here yet" in est.basis
    assert "size of mnist not seen here yet" in est.basis
    busy = est.seconds - S
    assert est.low == pytest.approx(S / 2 + busy / 3) and est.high == pytest.approx(2 * S + busy * 3)


def test_packed_members_cost_what_finished_packs_measured():
    base = RunConfig(epochs=1, T=10)
    solo = finished(base, duration=10.0, n_train=5000, n_test=10000, id="solo")
    # A finished pack of three took twice a solo run's work: each further member added 0.5 of a run.
    pack = [finished(base.replace(beta=b), duration=S + 2 * (10.0 - S), n_train=5000, n_test=10000,
                     pack_job="pack-x", id=f"p{b}") for b in (0.5, 0.8, 0.9)]
    sweep = [base.replace(beta=b) for b in (0.6, 0.75, 0.85, 0.95)]
    est = estimate(sweep, [solo, *pack], packed=True)
    assert est.seconds == pytest.approx(S + (10.0 - S) * (1 + 0.5 * 3))
    assert "packed members cost 0.50 of a run each (from 1 pack measured here)" in est.basis
    assert estimate(sweep, [solo], packed=True).seconds == pytest.approx(
        S + (10.0 - S) * (1 + estimates.FALLBACK_PACK_MEMBER_COST * 3))


def test_seeds_in_a_pack_cost_a_stream_each_and_a_seed_pack_does_not_set_the_member_cost():
    base = RunConfig(epochs=1, T=10)
    solo = finished(base, duration=10.0, n_train=5000, n_test=10000, id="solo")
    seeds = [base.replace(seed=s) for s in (1, 2, 3)]  # one member per seed: three streams
    est = estimate(seeds, [solo], packed=True)
    assert est.seconds == pytest.approx(S + (10.0 - S) * (1 + 2 * estimates.STREAM_COST))
    assert "each further seed in a pack costs 0.85 of the pack" in est.basis
    both = [c.replace(beta=b) for c in seeds[:2] for b in (0.5, 0.9)]  # 2 seeds x 2 members
    assert estimate(both, [solo], packed=True).seconds == pytest.approx(
        S + (10.0 - S) * (1 + estimates.FALLBACK_PACK_MEMBER_COST) * (1 + estimates.STREAM_COST))
    # A finished pack of seeds only (however long) says nothing of what a hyperparameter member adds.
    seed_pack = [finished(c, duration=S + 5 * (10.0 - S), n_train=5000, n_test=10000, pack_job="pack-s",
                          id=f"s{c.seed}") for c in seeds]
    sweep = [base.replace(beta=b) for b in (0.6, 0.75)]
    assert "(benchmark figure)" in estimate(sweep, [solo, *seed_pack], packed=True).basis


def test_jobs_spread_over_workers():
    base = RunConfig(epochs=1, T=10)
    runs = [finished(base, duration=10.0, n_train=5000, n_test=10000)]
    configs = [base.replace(seed=s) for s in range(4)]
    assert estimate(configs, runs, workers=1).seconds == pytest.approx(40.0)
    assert estimate(configs, runs, workers=2).seconds == pytest.approx(20.0)
    assert estimate(configs[:1], runs, workers=4).seconds == pytest.approx(10.0)  # one job: one worker


def test_capacity_estimate_reads_the_stores_finished_runs(redis_conn):
    store = RunStore(redis_conn)
    config = RunConfig(epochs=2, T=10)
    rec = store.create_run(config)
    planted = finished(config, duration=30.0, n_train=2000, n_test=500)
    store.set_status(rec.id, RunStatus.FINISHED, started_at=time.time() - 30, finished_at=time.time(),
                     last_metrics=planted.last_metrics)
    est = capacity.estimate(redis_conn, [config.replace(seed=5)])
    assert est.seconds == pytest.approx(30.0, rel=1e-3) and est.measured == 1
    assert capacity.estimate_seconds(redis_conn, [config.replace(seed=5)]) == pytest.approx(est.seconds)


def test_a_run_without_test_sizes_still_tells_the_training_split():
    config = RunConfig(epochs=1)
    run = finished(config, duration=20.0, n_train=1000, n_test=0)
    run.last_metrics.pop("test_samples")
    assert estimates.dataset_sizes([run]) == {"mnist": (1000, 10000)}
    assert estimate([config], [run]).seconds == pytest.approx(20.0)


def test_evaluation_is_costed_on_its_own_so_a_long_T_is_not_underestimated():
    """Issue 21: a T = 300 run estimated at 38 s took 177 s; its test passes were costed as a third
    of a training pass, but a Bernoulli test sample draws and multiplies everything every step."""
    base = RunConfig(epochs=2, T=20)
    # Measured here: at T = 20, 1.4 s of evaluation against 7 s of training (its epoch seconds).
    run = finished(base, duration=10.0, n_train=5000, n_test=10000)
    long_T = base.replace(T=300)
    est = estimate([long_T], [run])
    sizes = {"mnist": (5000, 10000)}
    train_s = 0.7 * 10.0 * work(long_T, sizes) / work(base, sizes)
    eval_s = (0.3 * 10.0 - S) * eval_work(long_T, sizes) / eval_work(base, sizes)
    assert est.seconds == pytest.approx(S + train_s + eval_s)
    assert "extrapolated" in est.basis and est.low < est.seconds < est.high
    # The test set's size moves the evaluation alone (the old model took a third of training per sample).
    fewer = estimate([base.replace(test_limit=1000)], [run]).seconds
    assert fewer == pytest.approx(S + 0.7 * 10.0 + (0.3 * 10.0 - S) * 1000 / 10000)
    bigger_batches = estimate([base.replace(test_batch_size=1000)], [run]).seconds
    assert bigger_batches < 10.0 and bigger_batches - S > 0.7 * 10.0  # per-batch overhead shrinks, not training
    # A record without its epoch seconds (older) still calibrates, by the old split, with no eval point.
    old = finished(base, duration=10.0, n_train=5000, n_test=10000)
    old.last_metrics = {k: v for k, v in old.last_metrics.items() if k != "epoch_seconds"}
    (m,) = estimates.measured_runs([old], sizes)
    assert m.s_per_eval_unit is None and m.s_per_unit > 0
    assert estimate([base], [old]).seconds > S


def test_a_bernoulli_test_sample_at_T_300_costs_more_than_a_training_one_at_the_fallback_rates():
    c = RunConfig(T=300)
    train = units_per_sample(c) * estimates.FALLBACK_S_PER_UNIT["bernoulli"]
    test = eval_units_per_sample(c) * estimates.FALLBACK_S_PER_EVAL_UNIT
    assert 0.5 < test / train < 2  # measured 1.3 on one thread (module docstring); the old model said 1/3
    image = RunConfig(T=300, encoder="image")  # no draws: a test sample is far cheaper than a Bernoulli one
    assert eval_units_per_sample(image) < 0.4 * eval_units_per_sample(c)
