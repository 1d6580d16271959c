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
