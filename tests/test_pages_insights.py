"""The analyses' views (Insights page and the hooks in Run, Runs, Compare, Launch) under AppTest,
against a real Redis holding real runs: a packed sweep trained here and written as a worker writes it."""

from __future__ import annotations

import time

import pytest

from snn_core.config import RunConfig
from snn_core.training import fit_packed
from workers.health_watch import HealthWatch, compact
from workers.store import RunStatus, RunStore
from tests.pagekit import figure, page, texts, widget

BASE = dict(T=4, epochs=2, train_limit=200, test_limit=100, batch_size=50, encoder="threshold", device="cpu",
            membrane_init="zero")
AXES = {"beta": [0.5, 0.9], "v_th": [0.5, 1.0, 8.0]}  # V_th = 8: the output never fires
_TRAINED: dict = {}


def trained(data_dir) -> list:
    """One packed pass over the 6 configs of a beta x V_th sweep (once per session)."""
    if not _TRAINED:
        configs = [RunConfig(data_dir=str(data_dir), beta=b, v_th=v, **BASE) for b in AXES["beta"] for v in AXES["v_th"]]
        _TRAINED["runs"] = list(zip(configs, fit_packed(configs)))
    return _TRAINED["runs"]


def write_sweep(store: RunStore, data_dir) -> tuple[str, dict]:
    """The sweep's runs written as `workers.publisher.Publisher` writes them (health from `HealthWatch`)."""
    runs = trained(data_dir)
    sweep_id = store.create_sweep(runs[0][0].replace(beta=0.7, v_th=1.0), AXES)
    ids = {}
    for i, (config, result) in enumerate(runs):
        rec = store.create_run(config, sweep_id=None if i == 0 else sweep_id)  # the first as if reused from before
        store.set_status(rec.id, RunStatus.RUNNING, started_at=time.time() - 5, worker="w", device="cpu")
        watch, best = HealthWatch(store, rec.id, config), None
        for metrics in result.history:
            data = metrics.to_dict()
            data["health"] = health = watch.observe(metrics)
            store.append_metric(rec.id, "epoch", data)
            best = compact(data) if best is None or data["test_acc"] >= best["test_acc"] else best
            store.set_fields(rec.id, last_metrics=compact(data), best_metrics=best, health=health)
        store.set_status(rec.id, RunStatus.FINISHED, finished_at=time.time())
        ids[(config.beta, config.v_th)] = rec.id
    store.set_sweep_runs(sweep_id, list(ids.values()))
    return sweep_id, ids


def frame_with(at, column: str):
    """The first table that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_insights_page_cost_latency_health_and_importance(store, synthetic_data_dir):
    sweep_id, ids = write_sweep(store, synthetic_data_dir)
    at = page("pages/insights.py", sweep=sweep_id)
    cost = figure(at, "Best test accuracy against synaptic operations")
    front = next(t for t in cost["data"] if t["name"] == "Pareto front")
    others = next(t for t in cost["data"] if t["name"] == "runs")
    assert len(front["x"]) + len(others["x"]) == 6 and front["x"] == sorted(front["x"])
    assert front["text"] == [str(i) for i in range(1, len(front["x"]) + 1)]  # numbered on the chart
    assert all(name.startswith("beta=") for name in front["hovertext"])  # and named
    table = frame_with(at, "ann_flops")
    assert list(table["run"]) == front["hovertext"] and list(table["#"]) == list(range(1, len(front["x"]) + 1))

    at.radio(key="ins_cost").set_value("flops").run()
    cost = figure(at, "Best test accuracy against SNN FLOPs")
    assert {s.get("x0") for s in cost["layout"]["shapes"]} >= {15_900, 78_750}  # the lab's hand counts

    latency = figure(at, "Decision latency per run")
    assert len(latency["data"]) == 6 and all(len(t["y"]) == 4 for t in latency["data"])
    lat = frame_with(at, "decides at t").set_index("id")
    silent = ids[(0.5, 8.0)]
    assert lat.loc[silent, "decides at t"] == 1  # a silent output says class 0 from the first step on

    health = frame_with(at, "flags").set_index("id")
    assert health.loc[silent, "output silent"] == "10/10" and "output silent" in health.loc[silent, "flags"]

    importance = figure(at, "Importance for best test accuracy")
    assert sorted(x.split(" ")[0] for x in importance["data"][0]["x"]) == ["beta", "v_th"]
    imp = frame_with(at, "param").set_index("param")
    assert imp.loc["v_th", "importance"] > imp.loc["beta", "importance"]  # V_th = 8 kills the run; beta hardly matters
    assert (imp["low"] <= imp["importance"]).all() and (imp["importance"] <= imp["high"]).all()


def test_insights_page_without_runs_says_so(store):
    at = page("pages/insights.py")
    assert "No run has finished an epoch yet" in texts(at)


def test_run_compare_and_runs_pages_show_health_and_latency(store, synthetic_data_dir):
    sweep_id, ids = write_sweep(store, synthetic_data_dir)
    silent = ids[(0.5, 8.0)]
    at = page("pages/run.py", run=silent)
    banner = next(w.value for w in at.warning if "Spike health" in w.value)
    assert banner.startswith("**Spike health:** epoch 2: ") and "output silent (test set)" in banner
    assert figure(at, "Spike health per epoch")["data"]
    assert figure(at, "Decision latency: test accuracy")["data"][-1]["y"][0] == pytest.approx(0.1, abs=0.1)

    at = page("pages/compare.py", sweep=sweep_id)
    assert len(figure(at, "Decision latency per run")["data"]) == 6

    store.set_status(ids[(0.9, 8.0)], RunStatus.STOPPED, stop_reason="stopped by its stop rule after epoch 2")
    at = page("pages/runs.py")
    frame = at.dataframe[0].value.set_index("id")
    assert frame.loc[silent, "spike health"] == "epoch 2: hidden 1 silent; output silent"  # V_th = 8
    assert frame.loc[ids[(0.9, 8.0)], "spike health"] == "stopped: epoch 2: hidden 1 silent; output silent"


def test_launch_with_a_stop_rule_and_train_again(store):
    at = page("pages/launch.py")
    at.checkbox(key="stop_rule_on").check().run()
    at.selectbox(key="stop_rule_condition").set_value("saturated").run()
    assert "stop when the output layer has been saturated for 2 epochs in a row" in texts(at)
    at.button(key="launch_run").click().run()
    first = store.list_runs()[0]
    assert first.stop_rule == {"layer": "output", "condition": "saturated", "epochs": 2, "share": 1.0}

    at.button(key="launch_run").click().run()  # identical: reused, and "train again" is offered
    assert store.count_runs() == 1
    at.button(key="launch_again_same").click().run()
    assert not at.exception
    twins = [r for r in store.list_runs() if r.config_hash == first.config_hash]
    assert len(twins) == 2 and twins[0].stop_rule == first.stop_rule  # forced: same seed, same hash

    at = page("pages/run.py", run=first.id)
    at.button(key="run_again_seed").click().run()
    newest = store.list_runs()[0]
    assert newest.config["seed"] == first.config["seed"] + 1
    assert {k: v for k, v in newest.config.items() if k != "seed"} == {k: v for k, v in first.config.items() if k != "seed"}
    assert f"Watch run {newest.id} live" in [l.proto.label for l in at.get("page_link")]


def test_run_page_says_whether_same_seed_twins_agree(store):
    from tests.pagekit import stored_run

    config = RunConfig(epochs=2)
    first = stored_run(store, config, accs=(0.5, 0.7))
    stored_run(store, config, accs=(0.5, 0.7))
    at = page("pages/run.py", run=first)
    assert "Determinism: 2 finished runs of this exact config (same seed) have identical metrics over 2 epochs" \
        in at.success[0].value
    stored_run(store, config, accs=(0.5, 0.75))
    at = page("pages/run.py", run=first)
    assert "differs from" in texts(at) and "at epoch 2 in train_acc (0.73 vs 0.68)" in texts(at)  # the first metric


def test_compare_opens_a_sweep_that_is_not_the_newest(store, synthetic_data_dir):
    """The sweep picker was drawn once per sweep tried: any but the newest sweep raised DuplicateElementKey."""
    older, ids = write_sweep(store, synthetic_data_dir)
    store.create_sweep(RunConfig(), {"beta": [0.5]})  # a newer, empty sweep
    at = page("pages/compare.py", sweep=older)
    assert at.selectbox(key="cmp_sweep").value == older
    assert len(figure(at, "Decision latency per run")["data"]) == 6
