"""`workers.insight_data`: what the Insights and FLOPs pages read of stored runs, against a real Redis."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from snn_core.health import probe_health, rest_starts
from tests.pagekit import stored_run
from workers import insight_data as data
from workers.store import RunStatus, RunStore


def test_a_sweeps_runs_include_the_ones_it_reused_and_only_runs_with_a_result(redis_conn):
    store = RunStore(redis_conn)
    reused = stored_run(store, RunConfig(epochs=2, beta=0.5))  # trained before, under no sweep
    sweep_id = store.create_sweep(RunConfig(epochs=2), {"beta": [0.5, 0.9]})
    mine = stored_run(store, RunConfig(epochs=2, beta=0.9), sweep_id=sweep_id)
    queued = store.create_run(RunConfig(epochs=2, beta=0.7)).id  # no epoch yet: nothing to show
    store.set_sweep_runs(sweep_id, [reused, mine, queued])
    assert [r.id for r in data.runs_with_results(store, store.get_sweep(sweep_id))] == [reused, mine]
    assert {r.id for r in data.runs_with_results(store)} == {reused, mine}


def test_the_health_table_puts_flagged_runs_first_and_says_what_is_unmeasured(redis_conn):
    store = RunStore(redis_conn)
    ok, flagged, unmeasured = (stored_run(store, RunConfig(seed=s, epochs=2)) for s in range(3))
    layers = [{"name": "output", "size": 10, "silent": 10, "saturated": 0}]
    store.set_fields(ok, health={"epoch": 2, "flags": [], "layers": [{**layers[0], "silent": 0}]})
    store.set_fields(flagged, health={"epoch": 2, "flags": ["output silent"], "layers": layers})
    records = [store.get_run(i) for i in (ok, flagged, unmeasured)]
    rows = data.health_table(records, {ok: "a", flagged: "b", unmeasured: "c"})
    assert [(r["run"], r["flags"]) for r in rows] == [("b", "epoch 2: output silent"), ("a", "ok"), ("c", "not measured")]
    assert rows[0]["output silent"] == "10/10" and rows[1]["output silent"] == "0/10"


def test_probe_health_reads_the_latest_recording_with_the_runs_membrane_start(redis_conn):
    store = RunStore(redis_conn)
    config = RunConfig(epochs=2, hidden=[12])
    run_id = stored_run(store, config, probes=True)
    expected = probe_health(store.load_probes(run_id), rest_starts(config.to_dict()))
    assert data.probe_health_of(store, run_id) == expected and expected["epoch"] == 2
    assert data.probe_health_of(store, stored_run(store, config.replace(seed=1))) is None  # no probes recorded


def test_varying_fields_are_those_the_runs_disagree_on(redis_conn):
    store = RunStore(redis_conn)
    ids = [stored_run(store, RunConfig(beta=b, hidden=h)) for b, h in ((0.5, [10]), (0.9, [10]), (0.9, [20]))]
    records = [store.get_run(i) for i in ids]
    assert data.varying_fields(records, ["beta", "hidden", "T"]) == ["beta", "hidden"]
    assert data.varying_fields(records[1:2], ["beta", "T"]) == []


def test_measured_rates_take_the_last_epoch_that_measured_them(redis_conn):
    store = RunStore(redis_conn)
    run_id = stored_run(store, RunConfig(T=7, hidden=[16, 8]))
    store.append_metric(run_id, "epoch", {"epoch": 3, "test_acc": 0.7})  # an entry without rates
    measured = data.measured_rates(store, run_id)
    assert measured == data.MeasuredRates([784, 16, 8, 10], 7, [0.3, 0.12, 0.05])  # pagekit's planted rates
    assert data.rates_from_history([{"firing_rates": [1.4, -0.1]}], 2) == [1.0, 0.0]  # clamped to [0, 1]
    assert data.rates_from_history([{"firing_rates": [0.2]}], 2) is None
    fresh = store.create_run(RunConfig(seed=9)).id
    store.set_status(fresh, RunStatus.RUNNING)
    assert data.measured_rates(store, fresh) is None
    with pytest.raises(ValueError, match="run_id not found"):
        data.measured_rates(store, "f" * 12)


def test_latency_rows_read_each_runs_latest_curve_and_the_step_it_decides_at(redis_conn):
    store = RunStore(redis_conn)
    fast, slow, old = (stored_run(store, RunConfig(seed=s, epochs=2, T=5)) for s in range(3))
    # Planted curves: fast reaches 90 % of its final 0.8 (0.72) at t=2, slow at t=5; old recorded none.
    histories = {fast: [{"epoch": 1, "latency_acc": [0.1] * 5}, {"epoch": 2, "latency_acc": [0.5, 0.75, 0.8, 0.8, 0.8]}],
                 slow: [{"epoch": 1, "latency_acc": [0.1, 0.2, 0.3, 0.6, 0.7]}, {"epoch": 2}],
                 old: [{"epoch": 1}, {"epoch": 2}]}
    records = [store.get_run(i) for i in (fast, slow, old)]
    rows = data.latency_rows(records, histories, {fast: "fast", slow: "slow", old: "old"})
    assert [(r["run"], r["epoch"], r["T"], r["decides at t"], r["share of T"]) for r in rows] == \
        [("fast", 2, 5, 2, 0.4), ("slow", 1, 5, 5, 1.0)]
    assert rows[0]["final acc"] == 0.8 and rows[0]["acc at t=1"] == 0.5 and rows[1]["curve"] == [0.1, 0.2, 0.3, 0.6, 0.7]
    assert data.latency_row(histories[fast], fraction=0.6)["decides at t"] == 1  # 0.5 >= 0.6 * 0.8
    assert data.latency_row(histories[old]) is None


def test_health_rows_are_one_row_per_layer():
    health = {"layers": [{"name": "hidden 1", "size": 10, "silent": 2, "saturated": 1},
                         {"name": "output", "size": 10, "silent": 10, "saturated": 0}]}
    assert data.health_rows(health) == [{"layer": "hidden 1", "neurons": 10, "silent": 2, "saturated": 1},
                                        {"layer": "output", "neurons": 10, "silent": 10, "saturated": 0}]
    assert data.health_rows(None) == []
