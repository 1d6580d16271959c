"""Issue 21 on the pages, under AppTest against a real Redis: typed number boxes on Launch, the
evaluating phase and the resume / download-model buttons on Run, search, the note column and
cancel-a-sweep on Runs, cancel-a-lab on Launch."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from tests.pagekit import page, stored_run, widget
from webui.tables import HEALTH_WIDTH, RUNS_SHOWN, RUNS_WIDTH_BUDGET
from workers import connection, submission
from workers.store import RunStatus


@pytest.mark.parametrize("typed,message", [
    ({"f_epochs": "abc"}, "epochs: 'abc' is not a whole number"),
    ({"f_batch_size": "12abc"}, "batch size: '12abc' is not a whole number"),
    ({"f_epochs": "2.5"}, "epochs: '2.5' is not a whole number"),
    ({"f_lr": "1e-3x"}, "learning rate: '1e-3x' is not a number"),
    ({"f_lr": "nan"}, "learning rate: 'nan' is not a finite number"),
    ({"f_epochs": "abc", "f_batch_size": "12abc"},
     "epochs: 'abc' is not a whole number; batch size: '12abc' is not a whole number"),
])
def test_launch_number_boxes_refuse_text_that_is_not_their_number(store, typed, message):
    at = page("pages/launch.py")
    for key, text in typed.items():
        widget(at, "text_input", key).set_value(text)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert f"Nothing launched: {message}." in errors, errors
    for part in message.split("; "):  # and each under its own box
        assert part in errors
    assert not [b for b in at.button if b.key == "launch_run"] and store.count_runs() == 0
    widget(at, "toggle", "sweep_mode").set_value(True).run()  # a sweep neither
    assert not [b for b in at.button if b.key == "launch_sweep"] and store.count_runs() == 0


def test_launch_typed_numbers_are_queued_exactly(store):
    at = page("pages/launch.py")
    assert widget(at, "slider", "f_T").max == 1000  # the operator's limit, not the slider's own
    for key, text in {"f_epochs": " 3 ", "f_batch_size": "32", "f_lr": "2e-3", "f_seed": "+4"}.items():
        widget(at, "text_input", key).set_value(text)
    widget(at, "slider", "f_T").set_value(700).run()
    widget(at, "button", "launch_run").click().run()
    config = store.list_runs()[0].config
    assert (config["epochs"], config["batch_size"], config["lr"], config["seed"], config["T"]) == (3, 32, 2e-3, 4, 700)


def test_live_page_says_evaluating_instead_of_eta_0s_during_a_test_pass(store):
    run_id = stored_run(store, RunConfig(epochs=3, T=5), accs=(0.5,), status=RunStatus.RUNNING, batches=4)
    store.update_progress(run_id, {"epoch": 2, "batch": 4, "batches": 4, "percent": 66.67, "eta_s": 31.0,
                                   "phase": "evaluating"})
    at = page("pages/run.py", run=run_id)
    text = at.get("progress")[0].proto.text
    assert "evaluating on the test set" in text and "ETA 31s" in text and "ETA 0s" not in text, text


def test_runs_search_finds_by_id_tag_note_and_settings_and_shows_the_note(store):
    a = stored_run(store, RunConfig(epochs=2, T=300), tags=["baseline"])
    b = stored_run(store, RunConfig(epochs=2, beta=0.9))
    store.set_note(b, "diverged after lr change")
    at = page("pages/runs.py")
    assert list(at.dataframe[0].value.set_index("id").loc[b, ["note"]]) == ["diverged after lr change"]
    for text, want in (("T=300", [a]), ("BASELINE", [a]), ("diverged", [b]), (b[:6], [b]),
                       ("beta=0.9 diverged", [b]), ("beta=0.9 baseline", []), ("", [b, a])):
        widget(at, "text_input", "runs_search").set_value(text).run()
        assert not at.exception
        assert list(at.dataframe[0].value["id"]) == want, text


def test_runs_columns_fit_a_1400px_window_with_ids_and_settings_whole():
    assert sum(RUNS_SHOWN.values()) + HEALTH_WIDTH <= RUNS_WIDTH_BUDGET
    assert "note" in RUNS_SHOWN
    # ~7.5 px a character in the grid's 14 px font, plus 16 px of cell padding
    assert RUNS_SHOWN["id"] >= 12 * 7.5 + 12 and RUNS_SHOWN["settings"] >= len("beta 0.9 · T 300 · epochs 2 · seed 3") * 6


def test_runs_cancel_sweep_cancels_all_its_active_runs_in_one_click(store):
    result = submission.submit_sweep(store.conn, RunConfig(epochs=1, T=5), {"beta": [0.5, 0.7, 0.9]})
    sweep_id = result.sweep_id
    done = stored_run(store, RunConfig(epochs=1, T=7))
    at = page("pages/runs.py")
    assert not [b for b in at.button if b.key == "runs_cancel_sweep"]  # only with a sweep picked
    widget(at, "selectbox", "runs_sweep").set_value(sweep_id).run()
    widget(at, "button", "runs_cancel_sweep").click().run()
    assert not at.exception
    assert {store.get_run(r.record.id).status for r in result.results} == {RunStatus.CANCELLED}
    assert store.get_run(done).status is RunStatus.FINISHED and connection.queue(store.conn).count == 0


def test_run_page_resumes_a_cancelled_run_and_offers_its_model(store):
    run_id = stored_run(store, RunConfig(epochs=3, T=5), accs=(0.5,), status=RunStatus.CANCELLED)
    at = page("pages/run.py", run=run_id)
    assert not [b for b in at.get("download_button") if b.proto.label == "Download model"]  # no checkpoint yet
    store.save_checkpoint(run_id, b"checkpoint bytes")
    at.run()
    assert len([b for b in at.get("download_button") if b.proto.label == "Download model"]) == 1
    widget(at, "button", "live_resume").click().run()
    assert not at.exception
    record = store.get_run(run_id)
    assert record.status is RunStatus.QUEUED and record.finished_at is None
    assert connection.queue(store.conn).job_ids == [run_id]
    assert not [b for b in at.button if b.key == "live_resume"]  # queued now: nothing to resume


def test_launch_lab_can_be_cancelled_in_one_click(store):
    at = page("pages/launch.py")
    widget(at, "button", "lab_launch_loss").click().run()
    (lab,) = store.list_labs()
    widget(at, "button", "lab_cancel").click().run()
    assert not at.exception
    runs = [store.get_run(i) for i in store.get_sweep(lab["studies"]["loss"])["run_ids"]]
    assert {r.status for r in runs} == {RunStatus.CANCELLED} and connection.queue(store.conn).count == 0


@pytest.mark.parametrize("text", ["784,,10", "784,10,"])
def test_flops_refuses_an_empty_layer_entry_instead_of_dropping_it(store, text):
    at = page("pages/flops.py")
    widget(at, "text_input", "flops_layers").set_value(text).run()
    assert not at.exception
    assert at.error[0].value == (f"layers must be comma-separated integers such as 784,10,10, got {text!r} "
                                 "(an empty entry between two commas)")
    assert not at.metric  # no FLOPs of a 784 -> 10 network
