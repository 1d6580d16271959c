"""Launch, Runs and Run (live) under streamlit.testing.v1.AppTest, against a real Redis with real runs."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from snn_core.config import RunConfig
from workers.store import RunStatus
from tests.pagekit import epoch_metrics, stored_run, page, texts, figure, trace_points, widget


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
    ("text_input", "f_epochs", "0", "epochs must be an integer >= 1, got 0"),
    ("text_input", "f_lr", "0", "lr must be a number > 0, got 0.0"),
    ("text_input", "f_hidden", "10,a", "hidden must be a list of integers >= 1, got '10,a'"),
])
def test_launch_invalid_input_shows_the_fields_error_and_launches_nothing(store, kind, key, value, message):
    at = page("pages/launch.py")
    widget(at, kind, key).set_value(value).run()
    assert not at.exception
    assert [e.value for e in at.error] == [message]
    assert not [b for b in at.button if b.key == "launch_run"]
    assert store.count_runs() == 0


def test_launch_typed_out_of_range_numbers_are_launched_or_refused_never_replaced(store):
    at = page("pages/launch.py")
    widget(at, "text_input", "f_epochs").set_value("100000").run()
    assert widget(at, "text_input", "f_epochs").value == "100000"  # the box keeps what was typed
    launch = [b for b in at.button if b.key == "launch_run"]
    if launch:  # accepted by RunConfig: exactly that is launched
        launch[0].click().run()
        assert store.list_runs()[0].config["epochs"] == 100000
    else:  # refused: the error names the field and the value, nothing launched
        assert any("epochs" in e.value and "100000" in e.value for e in at.error) and store.count_runs() == 0
    for key, value, message in (("f_lr", "-1", "lr must be a number > 0, got -1.0"),
                                ("f_seed", "-1", "seed must be an integer")):
        at = page("pages/launch.py")
        widget(at, "text_input", key).set_value(value).run()
        assert widget(at, "text_input", key).value == value
        assert any(e.value.startswith(message) for e in at.error), [e.value for e in at.error]
        assert not [b for b in at.button if b.key == "launch_run"] and store.count_runs() == 0


def test_launch_estimate_rests_on_measured_runs_and_hours_need_a_confirmation(store):
    stored_run(store, RunConfig(epochs=2, seed=7), accs=(0.5, 0.6))  # trained here: 30 s on 1,000 samples
    at = page("pages/launch.py")
    widget(at, "text_input", "f_epochs").set_value("2").run()
    caption = next(c.value for c in at.caption if c.value.startswith("Estimated training time"))
    assert "about **30s**" in caption and "from 1 run measured here" in caption, caption
    assert not widget(at, "button", "launch_run").disabled
    widget(at, "text_input", "f_hidden").set_value("16384").run()
    assert "This run is estimated at **" in at.warning[0].value and "h " in at.warning[0].value
    assert widget(at, "button", "launch_run").disabled  # not before the confirmation
    widget(at, "checkbox", "launch_run_long").check().run()
    widget(at, "button", "launch_run").click().run()
    assert not at.exception and [r.config["hidden"] for r in store.list_runs()][0] == [16384]


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
    assert (row["status"], row["settings"], row["best test acc"], row["last test acc"]) == (
        "finished", "beta 0.9 · epochs 2", 0.8, 0.8)
    assert (row["worker"], row["device"], row["hidden"], row["tags"]) == ("w-test", "cpu", "10", "")
    assert row["duration s"] > 0

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


def test_runs_table_picks_up_new_runs_but_holds_still_while_rows_are_selected(store):
    first = stored_run(store, RunConfig(epochs=1, beta=0.9), accs=(0.6,))
    at = page("pages/runs.py")
    assert list(at.dataframe[0].value["id"]) == [first]
    second = store.create_run(RunConfig(epochs=1, seed=4)).id
    at.run()  # what the 3 s refresh does
    assert list(at.dataframe[0].value["id"]) == [second, first]
    select_rows(at, [1])
    third = store.create_run(RunConfig(epochs=1, seed=5)).id
    at.run()
    assert list(at.dataframe[0].value["id"]) == [second, first]  # row 1 is still the selected run
    assert "1 new run will show once the selection is cleared" in texts(at)
    assert at.subheader[0].value.startswith(f"1 selected: {first}")
    select_rows(at, [])
    assert list(at.dataframe[0].value["id"]) == [third, second, first]


def test_runs_sweep_filter_includes_the_runs_a_sweep_reused(store):
    from workers import submission

    earlier = submission.submit_run(store.conn, RunConfig(epochs=1, T=5, beta=0.7)).record.id
    result = submission.submit_sweep(store.conn, RunConfig(epochs=1, T=5), {"beta": [0.7, 0.9]})
    assert [r.created for r in result.results] == [False, True]  # beta 0.7 reused the earlier run
    at = page("pages/runs.py")
    widget(at, "selectbox", "runs_sweep").set_value(result.sweep_id).run()
    ids = set(at.dataframe[0].value["id"])
    assert ids == {earlier, result.results[1].record.id}
    assert "2 matching of 2 runs" in texts(at)


def test_runs_export_follows_the_filter_with_iso_times(store):
    import csv
    import io

    from workers import transfer

    done = stored_run(store, RunConfig(epochs=2, beta=0.9), accs=(0.6, 0.8))
    store.create_run(RunConfig(epochs=3, seed=2))
    at = page("pages/runs.py")
    widget(at, "multiselect", "runs_status").set_value(["finished"]).run()
    (csv_button, _) = at.get("download_button")
    assert "the runs shown" in csv_button.proto.help
    rows = list(csv.DictReader(io.StringIO(transfer.export_runs(store.conn, "csv", run_ids=[done]))))
    assert [r["id"] for r in rows] == [done]
    created = rows[0]["created_at"]
    assert created.startswith("20") and created.endswith("+00:00") and "T" in created, created
    assert abs(__import__("datetime").datetime.fromisoformat(created).timestamp() - store.get_run(done).created_at) < 1e-3
    assert transfer.import_runs(store.conn, transfer.export_runs(store.conn, "csv", run_ids=[done])) == 0  # parses back


def test_runs_table_shows_blanks_not_none():
    from webui.tables import runs_frame, runs_style
    from workers.store import RunRecord

    config = RunConfig()
    queued = RunRecord(id="q1", config=config.to_dict(), config_hash=config.config_hash(), status=RunStatus.QUEUED,
                       created_at=time.time())
    html = runs_style(runs_frame([queued])).to_html()
    assert "None" not in html and "nan" not in html.lower()


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


def test_live_page_says_when_a_run_trains_in_a_pack(store):
    from workers import submission

    result = submission.submit_sweep(store.conn, RunConfig(epochs=1), {"beta": [0.5, 0.7, 0.9]})
    at = page("pages/run.py", run=result.results[0].record.id)
    assert not at.exception
    assert "Trains in one packed job with 2 other runs of sweep" in texts(at)
    solo = submission.submit_run(store.conn, RunConfig(epochs=2)).record.id
    assert "packed job" not in texts(page("pages/run.py", run=solo))


def test_live_page_stopped_runs_show_where_they_stopped_not_an_eta(store):
    run_id = stored_run(store, RunConfig(epochs=10, T=5, dataset="fashion-mnist"), accs=(0.5,),
                        status=RunStatus.RUNNING, batches=4)
    store.set_fields(run_id, progress={"epoch": 9, "batch": 2, "batches": 4, "percent": 85.0, "eta_s": 10.0})
    from workers import submission

    submission.cancel_run(store.conn, run_id)
    at = page("pages/run.py", run=run_id)
    (bar,) = at.get("progress")
    assert "ETA" not in bar.proto.text and bar.proto.text == "cancelled at epoch 9/10 · batch 2/4 · 85%"
    assert "dataset=fashion-mnist" in texts(at)  # the caption names the data


def test_live_page_failed_run_shows_its_error_instead_of_empty_charts(store):
    run_id = store.create_run(RunConfig(epochs=2)).id
    store.set_status(run_id, RunStatus.FAILED, started_at=time.time() - 7, finished_at=time.time(),
                     worker="w-test", error="RuntimeError: CUDA is not available on this worker")
    at = page("pages/run.py", run=run_id)
    assert "CUDA is not available on this worker" in at.error[0].value
    assert not at.get("plotly_chart") and not at.get("progress")
    assert "failed before it recorded any metric" in texts(at)


def test_live_loss_chart_has_a_point_for_every_batch_a_real_worker_trained(store, workers, synthetic_data_dir):
    from workers import submission

    workers(1, SPIKEBOARD_METRIC_INTERVAL="0.25")  # the default interval: writes are grouped, no point dropped
    config = RunConfig(epochs=2, T=5, batch_size=64, train_limit=1280, test_limit=200, membrane_init="zero")
    run_id = submission.submit_run(store.conn, config).record.id
    deadline = time.time() + 120
    while store.get_run(run_id).status is not RunStatus.FINISHED:
        assert time.time() < deadline and store.get_run(run_id).status is not RunStatus.FAILED, store.get_run(run_id)
        time.sleep(0.2)
    batches = [d for _, kind, d in store.read_metrics(run_id) if kind == "batch"]
    assert [(b["epoch"], b["batch"]) for b in batches] == [(e, i) for e in (1, 2) for i in range(1, 21)]
    at = page("pages/run.py", run=run_id)
    assert len(trace_points(figure(at, "Train loss"), "per batch")) == 40


def test_live_page_unknown_run_says_so(store):
    at = page("pages/run.py", run="nosuchrun")
    assert "No run with id `nosuchrun`" in at.warning[0].value


# -- Compare ------------------------------------------------------------------------
