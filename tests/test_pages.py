"""Every page under streamlit.testing.v1.AppTest, against a real redis-server holding real runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from snn_core.config import RunConfig
from snn_core.model import SNN
from snn_core.recording import record, recording_to_dict
from workers.store import RunStatus, RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 30


def epoch_metrics(epoch: int, acc: float, rates=(0.3, 0.12, 0.05)) -> dict:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc - 0.02, "test_loss": 1.1 / epoch,
            "test_acc": acc, "firing_rates": list(rates), "epoch_seconds": 2.0, "samples_per_s": 500.0}


def stored_run(store: RunStore, config: RunConfig, accs=(0.5, 0.7), status=RunStatus.FINISHED,
               batches: int = 4, sweep_id=None, tags=(), probes: bool = False) -> str:
    """A run written exactly as a worker writes one: record, batch and epoch metrics, probes."""
    rec = store.create_run(config, sweep_id=sweep_id, tags=tags)
    store.set_status(rec.id, RunStatus.RUNNING, started_at=time.time() - 30, worker="w-test", device="cpu")
    best = None
    for e, acc in enumerate(accs, start=1):
        for b in range(1, batches + 1):
            store.append_metric(rec.id, "batch", {"epoch": e, "batch": b, "batches": batches, "loss": 1.0 / (e + b)})
        m = epoch_metrics(e, acc)
        store.append_metric(rec.id, "epoch", m)
        best = m if best is None or m["test_acc"] > best["test_acc"] else best
        if probes:
            store.save_probes(rec.id, e, probe_dict(config, e))
        progress = {"epoch": e, "batch": batches, "batches": batches, "percent": 100 * e / config.epochs, "eta_s": 3.0}
        store.set_status(rec.id, RunStatus.RUNNING, last_metrics=m, best_metrics=best, progress=progress)
    if status is not RunStatus.RUNNING:
        store.set_status(rec.id, status, finished_at=time.time())
    return rec.id


def probe_dict(config: RunConfig, epoch: int) -> dict:
    """A real recording of a real (untrained) model on three synthetic digits."""
    gen = torch.Generator().manual_seed(epoch)
    model = SNN(config, gen)
    images = torch.rand(3, 784, generator=gen)
    return recording_to_dict(record(model, images, torch.tensor([3, 5, 7]), config), epoch, config.encoder.value)


@pytest.fixture
def store(redis_server, redis_conn, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    return RunStore(redis_conn)


def page(path: str, **query) -> AppTest:
    """The app opened on `path` (a page file), with query parameters, after one run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(path)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "info", "warning", "error", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def figures(at: AppTest) -> list[dict]:
    import json

    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def figure(at: AppTest, title: str) -> dict:
    """The chart whose title starts with `title`."""
    return next(f for f in figures(at) if f["layout"]["title"]["text"].startswith(title))


def trace_points(fig: dict, name: str) -> list:
    return next(t["x"] for t in fig["data"] if t.get("name") == name)


def widget(at: AppTest, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


# -- FLOPs --------------------------------------------------------------------------

def test_flops_defaults_reproduce_the_labs_worked_example(store):
    at = page("pages/flops.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ANN FLOPs"] == "15,900"
    assert metrics["SNN FLOPs per step"] == "15,750"
    assert metrics["SNN FLOPs total (T=5)"] == "78,750"
    table = at.dataframe[0].value
    assert list(table["ANN"]) == [15690, 210, 15900]
    assert list(table["SNN per step"]) == [15690, 60, 15750]
    assert "T = 1.01" in texts(at)  # 15,900 / 15,750
    assert trace_points(figure(at, "SNN FLOPs against T"), "SNN")[0] == 1
    assert len(figure(at, "SNN FLOPs against the firing rate of F1")["data"]) == 2

    widget(at, "number_input", "flops_T").set_value(10).run()
    assert {m.label: m.value for m in at.metric}["SNN FLOPs total (T=10)"] == "157,500"
    widget(at, "number_input", "flops_rate_1").set_value(0.5).run()
    assert {m.label: m.value for m in at.metric}["SNN FLOPs per step"] == f"{15690 + (2 * 10 * 0.5 - 1) * 10 + 20:,.0f}"


def test_flops_bad_layers_show_the_error(store):
    at = page("pages/flops.py")
    widget(at, "text_input", "flops_layers").set_value("784,ten,10").run()
    assert not at.exception
    assert "layers must be comma-separated integers" in at.error[0].value
    assert not at.metric


def test_flops_fills_a_runs_measured_rates(store):
    run_id = stored_run(store, RunConfig(T=7, hidden=(20,), epochs=2))
    at = page("pages/flops.py")
    widget(at, "selectbox", "flops_run").set_value(run_id)
    widget(at, "button", "flops_use").click().run()
    assert not at.exception
    assert widget(at, "text_input", "flops_layers").value == "784,20,10"
    assert widget(at, "number_input", "flops_T").value == 7
    assert widget(at, "number_input", "flops_rate_0").value == pytest.approx(0.3)
    assert widget(at, "number_input", "flops_rate_1").value == pytest.approx(0.12)
    per_step = (2 * 784 * 0.3 - 1) * 20 + 2 * 20 + (2 * 20 * 0.12 - 1) * 10 + 2 * 10
    assert {m.label: m.value for m in at.metric}["SNN FLOPs total (T=7)"] == f"{per_step * 7:,.0f}"


# -- Launch -------------------------------------------------------------------------

def test_launch_creates_a_queued_run_and_then_recognises_it(store):
    at = page("pages/launch.py")
    assert widget(at, "slider", "f_beta").value == 0.7 and widget(at, "slider", "f_T").value == 50
    assert widget(at, "radio", "f_encoder").value == "bernoulli"
    widget(at, "slider", "f_beta").set_value(0.8)
    widget(at, "slider", "f_T").set_value(20)
    widget(at, "radio", "f_encoder").set_value("threshold").run()
    assert "Pixels brighter than 0.5" in str(widget(at, "radio", "f_encoder").proto)
    widget(at, "button", "launch_run").click().run()
    assert not at.exception
    runs = store.list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.status is RunStatus.QUEUED
    assert (run.config["beta"], run.config["T"], run.config["encoder"]) == (0.8, 20, "threshold")
    assert f"Launched run **{run.id}**" in at.success[0].value
    assert run.id in str(at.get("page_link")[0].proto)

    widget(at, "button", "launch_run").click().run()
    assert "identical run already exists" in texts(at) and store.count_runs() == 1


@pytest.mark.parametrize("kind,key,value,message", [
    ("number_input", "f_epochs", 0, "epochs must be an integer >= 1, got 0"),
    ("number_input", "f_lr", 0.0, "lr must be a number > 0, got 0.0"),
    ("text_input", "f_hidden", "10,a", "hidden must be a list of integers >= 1, got '10,a'"),
])
def test_launch_invalid_input_shows_the_fields_error_and_launches_nothing(store, kind, key, value, message):
    at = page("pages/launch.py")
    widget(at, kind, key).set_value(value).run()
    assert not at.exception
    assert [e.value for e in at.error] == [message]
    assert not [b for b in at.button if b.key == "launch_run"]
    assert store.count_runs() == 0


def test_launch_sweep_shows_count_and_estimate_then_launches_the_grid(store):
    at = page("pages/launch.py")
    widget(at, "toggle", "sweep_mode").set_value(True).run()
    assert widget(at, "multiselect", "sweep_axes").value == ["beta"]
    assert widget(at, "text_input", "sweep_values_beta").value == "0.5, 0.7, 0.8, 0.9, 0.95, 0.99"
    widget(at, "multiselect", "sweep_axes").set_value(["beta", "T"]).run()
    widget(at, "text_input", "sweep_values_T").set_value("5, 10").run()
    # 6 betas x 2 Ts: the betas of each T pack into one job
    assert "**12 runs** in **2 jobs**" in texts(at) and "about **" in texts(at)
    assert store.count_runs() == 0  # nothing before confirming
    widget(at, "button", "launch_sweep").click().run()
    assert not at.exception
    sweeps = store.list_sweeps()
    assert len(sweeps) == 1 and len(sweeps[0]["run_ids"]) == 12
    runs = store.list_runs(sweep_id=sweeps[0]["id"])
    assert sorted({(r.config["beta"], r.config["T"]) for r in runs}) == sorted(
        (b, t) for b in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99) for t in (5, 10))
    assert all(r.status is RunStatus.QUEUED for r in runs)


def test_launch_sweep_with_a_bad_value_launches_nothing(store):
    at = page("pages/launch.py")
    widget(at, "toggle", "sweep_mode").set_value(True).run()
    widget(at, "text_input", "sweep_values_beta").set_value("0.5, 1.7").run()
    assert not at.exception
    assert "beta must be in (0, 1], got 1.7" in at.error[0].value
    assert not [b for b in at.button if b.key == "launch_sweep"] and store.count_runs() == 0


# -- Runs ---------------------------------------------------------------------------

def select_rows(at: AppTest, rows: list[int]) -> None:
    """What clicking rows of the runs table does: set the table's selection state."""
    at.session_state[f"runs_table_{at.session_state['runs_gen']}"] = {
        "selection": {"rows": rows, "columns": [], "cells": []}}
    at.run()


def test_runs_table_filters_and_actions(store):
    done = stored_run(store, RunConfig(epochs=2, beta=0.9), accs=(0.6, 0.8))
    failed = stored_run(store, RunConfig(epochs=2, seed=1), accs=(0.4,), status=RunStatus.FAILED, tags=["flaky"])
    queued = store.create_run(RunConfig(epochs=3, seed=2), tags=["flaky"]).id
    at = page("pages/runs.py")
    table = at.dataframe[0].value
    assert list(table["id"]) == [queued, failed, done]  # newest first
    row = table.set_index("id").loc[done]
    assert (row["status"], row["beta"], row["best test acc"], row["last test acc"]) == ("finished", 0.9, 0.8, 0.8)
    assert (row["worker"], row["device"]) == ("w-test", "cpu") and row["duration s"] > 0

    widget(at, "multiselect", "runs_status").set_value(["finished"]).run()
    assert list(at.dataframe[0].value["id"]) == [done]
    widget(at, "multiselect", "runs_status").set_value([]).run()
    widget(at, "selectbox", "runs_tag").set_value("flaky").run()
    assert list(at.dataframe[0].value["id"]) == [queued, failed]

    select_rows(at, [0])
    widget(at, "button", "runs_cancel").click().run()
    assert store.get_run(queued).status is RunStatus.CANCELLED

    select_rows(at, [1])
    assert "1 selected: " + failed in at.subheader[0].value
    widget(at, "text_area", "runs_note_text").set_value("diverged at epoch 1")
    widget(at, "button", "runs_save_note").click().run()
    assert store.get_run(failed).note == "diverged at epoch 1"
    widget(at, "text_input", "runs_tags_text").set_value("keep, best")
    widget(at, "button", "runs_set_tags").click().run()
    assert store.get_run(failed).tags == ["keep", "best"]
    assert not at.subheader  # the rows changed, so the old selection was dropped

    widget(at, "selectbox", "runs_tag").set_value(None).run()
    select_rows(at, [2])
    assert widget(at, "button", "runs_delete").disabled  # needs the confirmation first
    widget(at, "checkbox", "runs_delete_sure").check().run()
    widget(at, "button", "runs_delete").click().run()
    assert not at.exception and store.get_run(done) is None and store.count_runs() == 2
    assert [b.label for b in at.get("download_button")] == ["Export CSV", "Export JSONL"]


def test_runs_page_stays_fast_with_thousands_of_runs(store):
    base = RunConfig(epochs=1)
    for i in range(3000):
        store.create_run(base.replace(seed=i))
    start = time.perf_counter()
    at = page("pages/runs.py")
    elapsed = time.perf_counter() - start
    assert len(at.dataframe[0].value) == 200
    assert "3,000 matching of 3,000 runs; showing 200" in texts(at)
    assert elapsed < 10, elapsed


# -- Run (live) ---------------------------------------------------------------------

def test_live_page_reads_only_new_entries_and_stops_when_done(store):
    config = RunConfig(epochs=3, T=5)
    run_id = stored_run(store, config, accs=(0.5,), status=RunStatus.RUNNING, batches=4)
    at = page("pages/run.py", run=run_id)
    status = {m.label: m.value for m in at.metric}
    assert status == {"Status": "running", "Worker": "w-test", "Device": "cpu", "Duration": status["Duration"]}
    assert "ETA 3s" in at.get("progress")[0].proto.text
    assert len(trace_points(figure(at, "Train loss"), "per batch")) == 4
    assert [t["name"] for t in figure(at, "Firing rate")["data"]] == ["input", "hidden 1", "output"]
    cursor = at.session_state[f"metric_cursor_{run_id}"]
    seen = cursor.after

    for b in range(1, 5):
        store.append_metric(run_id, "batch", {"epoch": 2, "batch": b, "batches": 4, "loss": 0.1 * b})
    store.append_metric(run_id, "epoch", epoch_metrics(2, 0.75))
    at.run()
    cursor = at.session_state[f"metric_cursor_{run_id}"]
    assert cursor.after > seen and len(cursor.batches) == 8  # the 4 old + 4 new, none twice
    assert len(trace_points(figure(at, "Train loss"), "per batch")) == 8
    assert trace_points(figure(at, "Accuracy per epoch"), "test accuracy") == [1, 2]
    assert trace_points(figure(at, "Loss per epoch"), "test loss") == [1, 2]
    assert "Latest: epoch 2 · batch 4/4 · loss 0.4000" in texts(at)
    assert [b for b in at.button if b.key == "live_cancel"]

    store.set_status(run_id, RunStatus.FINISHED, finished_at=time.time())
    at.run()
    assert {m.label: m.value for m in at.metric}["Status"] == "finished"
    assert not [b for b in at.button if b.key == "live_cancel"]


def test_live_page_cancel_button_cancels(store):
    run_id = store.create_run(RunConfig(epochs=1)).id
    at = page("pages/run.py", run=run_id)
    widget(at, "button", "live_cancel").click().run()
    assert not at.exception and store.get_run(run_id).status is RunStatus.CANCELLED


def test_live_page_unknown_run_says_so(store):
    at = page("pages/run.py", run="nosuchrun")
    assert "No run with id `nosuchrun`" in at.warning[0].value


# -- Compare ------------------------------------------------------------------------

def legend(fig: dict) -> list[str]:
    return [t["name"] for t in fig["data"] if t.get("showlegend", True) is not False]


def test_compare_names_only_differing_settings_and_groups_seeds(store):
    a = stored_run(store, RunConfig(epochs=2, beta=0.7, seed=0), accs=(0.5, 0.7))
    b = stored_run(store, RunConfig(epochs=2, beta=0.7, seed=1), accs=(0.6, 0.9))
    c = stored_run(store, RunConfig(epochs=2, beta=0.9, seed=0), accs=(0.4, 0.6))
    at = page("pages/compare.py", runs=f"{a},{b},{c}")
    acc = figure(at, "Test accuracy per epoch")
    assert legend(acc) == ["beta=0.7 (mean of 2 seeds)", "beta=0.9"]
    mean = next(t for t in acc["data"] if t.get("name", "").startswith("beta=0.7"))
    assert mean["y"] == pytest.approx([0.55, 0.8])
    band = next(t for t in acc["data"] if t.get("fill") == "toself")
    assert band["y"] == pytest.approx([0.6, 0.9, 0.7, 0.5])  # max forward, min back
    table = at.dataframe[0].value.set_index("id")
    assert list(table.columns[:3]) == ["status", "beta", "seed"]
    assert table.loc[b, "best test acc"] == 0.9 and table.loc[c, "last test acc"] == 0.6

    at.toggle(key="cmp_group").set_value(False).run()
    assert legend(figure(at, "Test accuracy per epoch")) == ["beta=0.7, seed=0", "beta=0.7, seed=1", "beta=0.9, seed=0"]
    assert figure(at, "Hyperparameters")["data"][0]["type"] == "parcoords"


def test_compare_a_sweep_plots_accuracy_against_the_swept_value(store):
    base = RunConfig(epochs=2)
    sweep_id = store.create_sweep(base, {"T": [5, 10, 20]})
    ids = [stored_run(store, base.replace(T=t), accs=(0.3, acc), sweep_id=sweep_id)
           for t, acc in ((5, 0.6), (10, 0.7), (20, 0.8))]
    store.set_sweep_runs(sweep_id, ids)
    at = page("pages/compare.py", sweep=sweep_id)
    assert at.radio(key="cmp_mode").value == "A sweep"
    assert legend(figure(at, "Train loss per epoch")) == ["T=5", "T=10", "T=20"]
    sweep = figure(at, "Best test accuracy vs T")
    assert sweep["data"][0]["x"] == [5, 10, 20] and sweep["data"][0]["y"] == pytest.approx([0.6, 0.7, 0.8])
    dims = figure(at, "Hyperparameters")["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["T", "best_test_acc"]


# -- Spikes -------------------------------------------------------------------------

def test_spikes_page_draws_rasters_membranes_counts_and_history(store):
    config = RunConfig(epochs=2, T=6, hidden=(12,), v_th=0.2)
    run_id = stored_run(store, config, probes=True)
    at = page("pages/spikes.py", run=run_id)
    recording = store.load_probes(run_id, 2)
    probe = recording["probes"][0]
    assert at.get("segmented_control")[0].proto.options  # the probe digits
    raster = figure(at, "Input spikes")
    assert len(raster["data"][0]["x"]) == len(probe["input"]["events"]) > 0
    hidden = figure(at, "Hidden 1 spikes")
    assert hidden["layout"]["title"]["text"] == f"Hidden 1 spikes: {len(probe['spikes'][0]):,} spikes"
    membranes = figure(at, "Output membrane potentials")
    assert len([t for t in membranes["data"] if t.get("name", "").startswith("neuron")]) == 10
    assert any(s.get("y0") == 0.2 for s in membranes["layout"]["shapes"])  # the threshold line
    counts = figure(at, "Output spike counts: predicted")
    assert counts["data"][0]["y"] == probe["counts"]
    history = figure(at, "Output spike counts for the 3 across epochs")
    assert history["data"][0]["y"] == ["1", "2"]

    at.segmented_control(key="spk_digit").set_value(7).run()
    assert not at.exception and "label 7" in texts(at)
    assert figure(at, "Output spike counts: predicted")["data"][0]["y"] == recording["probes"][2]["counts"]


def test_spikes_page_without_recordings_says_so(store):
    run_id = store.create_run(RunConfig()).id
    at = page("pages/spikes.py", run=run_id)
    assert "has no spike recordings yet" in at.info[0].value


# -- Redis unreachable --------------------------------------------------------------

@pytest.mark.parametrize("path", ["pages/launch.py", "pages/runs.py", "pages/run.py", "pages/compare.py",
                                  "pages/spikes.py", "pages/flops.py"])
def test_unreachable_redis_is_explained_and_the_app_recovers(redis_server, store, path):
    run_id = stored_run(store, RunConfig(epochs=1), accs=(0.5,))
    redis_server.stop()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(path)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    message = at.error[0].value
    assert f"Cannot reach Redis at `{redis_server.url}`" in message and "Traceback" not in message
    if path == "pages/flops.py":  # the calculator itself needs no Redis
        assert {m.label: m.value for m in at.metric}["ANN FLOPs"] == "15,900"

    redis_server.restart()
    at.run()
    assert not at.exception and not at.error
