"""Compare, Spikes, and every page without Redis, under AppTest against a real Redis with real runs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from snn_core.config import RunConfig
from tests.pagekit import stored_run, page, texts, figure, TIMEOUT, APP


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
    assert [d["label"] for d in dims] == ["T", "best test acc %"]
    assert dims[1]["values"] == pytest.approx([60, 70, 80])  # percent, like the table and the other charts


def test_compare_legends_follow_the_differing_value_not_the_pick_order(store):
    ids = {beta: stored_run(store, RunConfig(epochs=2, beta=beta), accs=(0.3, acc))
           for beta, acc in ((0.9, 0.6), (0.5, 0.8), (0.7, 0.7))}
    at = page("pages/compare.py", runs=",".join(ids.values()))  # picked 0.9, 0.5, 0.7
    assert legend(figure(at, "Test accuracy per epoch")) == ["beta=0.5", "beta=0.7", "beta=0.9"]
    dims = figure(at, "Hyperparameters")["data"][0]["dimensions"]
    assert dims[-1]["label"] == "best test acc %" and sorted(dims[-1]["values"]) == pytest.approx([60, 70, 80])
    # Issue 21: a legend beside each of three charts in a row covered 60 % of it; under the plot it
    # covers none of the plot's width, and the figure grows to hold it.
    for title in ("Test accuracy per epoch", "Test loss per epoch"):
        layout = figure(at, title)["layout"]
        assert layout["legend"]["y"] < 0 and layout["legend"]["x"] == 0, layout["legend"]
        plot_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
        assert plot_px >= 200 and layout["margin"]["b"] >= 20 * 3


# -- Spikes -------------------------------------------------------------------------

def test_spikes_page_draws_rasters_membranes_counts_and_history(store):
    config = RunConfig(epochs=2, T=6, hidden=(12,), v_th=0.2)
    run_id = stored_run(store, config, probes=True)
    at = page("pages/spikes.py", run=run_id)
    recording = store.load_probes(run_id, 2)
    probe = recording["probes"][0]
    assert at.get("segmented_control")[0].proto.options  # the probe digits
    raster = figure(at, "Input spikes")
    cells = raster["data"][0]["z"]
    assert sum(map(sum, cells)) == len(probe["input"]["events"]) > 0
    assert all(cells[j][t] == 1 for t, j in probe["input"]["events"])
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


def test_spikes_at_small_T_keep_neurons_apart_and_compare_layers_by_rate(store):
    config = RunConfig(epochs=2, T=5, hidden=(10,), v_th=0.2)
    run_id = stored_run(store, config, probes=True)
    at = page("pages/spikes.py", run=run_id)
    hidden = figure(at, "Hidden 1 spikes")
    # Cells with gaps, every neuron labelled, rows tall enough to read: ticks cannot merge.
    assert hidden["data"][0]["type"] == "heatmap" and hidden["data"][0]["ygap"] >= 1
    assert hidden["layout"]["yaxis"]["dtick"] == 1 and hidden["layout"]["xaxis"]["dtick"] == 1
    assert hidden["layout"]["height"] >= 18 * 10
    assert len(hidden["data"][0]["z"]) == 10 and len(hidden["data"][0]["z"][0]) == 5
    rates = figure(at, "Firing rate per layer across epochs")
    probes = [next(p for p in store.load_probes(run_id, e)["probes"] if p["label"] == 3) for e in (1, 2)]
    by_name = {t["name"]: t["y"] for t in rates["data"]}
    assert by_name["input"] == pytest.approx([len(p["input"]["events"]) / (784 * 5) for p in probes])
    assert by_name["hidden 1"] == pytest.approx([len(p["spikes"][0]) / (10 * 5) for p in probes])
    assert all(0 <= y <= 1 for ys in by_name.values() for y in ys)


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


# -- Run names in pickers -----------------------------------------------------------

def test_every_run_picker_names_runs_by_settings_and_outcome(store):
    run_id = stored_run(store, RunConfig(epochs=2, beta=0.9, T=5), accs=(0.5, 0.842), probes=True)
    name = f"beta 0.9 · T 5 · epochs 2 · bernoulli/mse · 84.2 % · "
    pickers = {"pages/run.py": ("selectbox", "live_pick"), "pages/spikes.py": ("selectbox", "spk_run"),
               "pages/flops.py": ("selectbox", "flops_run"), "pages/compare.py": ("multiselect", "cmp_runs")}
    for path, (kind, key) in pickers.items():
        at = page(path)
        options = next(w for w in getattr(at, kind) if w.key == key).options
        assert len(options) == 1 and options[0].startswith(name) and options[0].endswith(run_id), (path, options)
