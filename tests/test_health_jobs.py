"""The stop rule through the real job system: a real redis-server and a real `python -m workers` process."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from workers import submission
from workers.store import RunStatus, RunStore

from bench.procs import wait_for

pytestmark = pytest.mark.timeout(120)

# V_th = 5 with small weights and a tiny learning rate: the output layer never fires.
SILENT = dict(T=4, epochs=5, v_th=5.0, lr=1e-6, encoder="image", train_limit=128, test_limit=64, batch_size=64)


def test_the_stop_rule_stops_a_silent_run_on_a_real_worker(redis_conn, workers):
    store = RunStore(redis_conn)
    rule = {"layer": "output", "condition": "silent", "epochs": 2}
    stopped = submission.submit_run(redis_conn, RunConfig(**SILENT), stop_rule=rule).record
    watched_ok = submission.submit_run(redis_conn, RunConfig(**{**SILENT, "epochs": 2})).record  # no rule
    assert stopped.stop_rule == {**rule, "share": 1.0}
    workers(1)
    wait_for(lambda: store.get_run(stopped.id).status in (RunStatus.STOPPED, RunStatus.FINISHED, RunStatus.FAILED),
             90, "the run with a stop rule to end")
    record = store.get_run(stopped.id)
    assert record.status is RunStatus.STOPPED, (record.status, record.error)
    assert record.stop_reason.startswith("stopped by its stop rule after epoch 2: output layer silent (10/10 silent")
    assert "since epoch 1" in record.stop_reason and record.finished_at
    history = store.epoch_history(stopped.id)
    assert [e["epoch"] for e in history] == [1, 2]  # not the 5 configured
    assert all(e["health"]["flags"][-1] == "output silent" for e in history)
    assert history[-1]["neuron_counts"][-1] == [0] * 10 and history[-1]["test_samples"] == 64
    assert record.health["epoch"] == 2 and "output silent" in record.health["flags"]
    assert "latency_acc" not in record.last_metrics and len(history[-1]["latency_acc"]) == 4  # bulk in the stream

    # The run without a rule is flagged the same way but trains to its end.
    wait_for(lambda: store.get_run(watched_ok.id).status is RunStatus.FINISHED, 60, "the run without a rule")
    assert "output silent" in store.get_run(watched_ok.id).health["flags"]

    # The rule is no hyperparameter: with a rule, the finished run's config is still that run (reused).
    again = submission.submit_run(redis_conn, RunConfig(**{**SILENT, "epochs": 2}), stop_rule=rule)
    assert not again.created and again.record.id == watched_ok.id
    assert RunConfig(**SILENT).config_hash() == stopped.config_hash


def test_a_bad_stop_rule_is_refused_before_anything_is_stored(redis_conn):
    store = RunStore(redis_conn)
    with pytest.raises(ValueError, match="stop rule epochs must be an integer >= 1, got 0"):
        submission.submit_run(redis_conn, RunConfig(), stop_rule={"epochs": 0})
    with pytest.raises(ValueError, match="stop rule layer must be one of"):
        submission.submit_sweep(redis_conn, RunConfig(), {"beta": [0.5, 0.9]}, stop_rule={"layer": "input"})
    assert store.count_runs() == 0 and store.list_sweeps() == []


def test_every_run_of_a_sweep_carries_its_stop_rule(redis_conn):
    store = RunStore(redis_conn)
    rule = {"layer": "hidden", "condition": "saturated", "epochs": 3}
    result = submission.submit_sweep(redis_conn, RunConfig(**SILENT), {"beta": [0.5, 0.9]}, stop_rule=rule)
    records = [store.get_run(r.record.id) for r in result.results]
    assert [r.stop_rule for r in records] == [{**rule, "share": 1.0}] * 2
    plain = submission.submit_run(redis_conn, RunConfig(**{**SILENT, "beta": 0.5}))
    assert not plain.created  # the rule is not part of the config: the sweep's run is reused
