"""AppTest of the Search page on a planted search (real redis-server, runs written as a worker writes
them), and of the Launch page's Search section: a valid search is stored, bad input stores nothing."""

from __future__ import annotations

import pytest

from workers.keys import Keys
from workers.search_driver import Driver
from workers.search_spec import SearchSpec

from tests.pagekit import figure, page, texts, widget
from tests.searchkit import planted_search

GREY = "rgba(138,138,138,0.45)"


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def controls(store, sid: str) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in body.items()} for _, body in store.conn.xrange(Keys.search_control)
            if body[b"search_id"].decode() == sid]


def test_the_page_shows_counts_best_front_and_greyed_stopped_trials(store):
    sid = planted_search(store)
    at = page("pages/search.py", search=sid)
    shown = metrics(at)
    assert shown["Status"] == "running" and shown["Best test accuracy"] == "85.0 %" and shown["Trials"] == "6"
    assert (shown["running"], shown["stopped early"], shown["finished"], shown["duplicate"]) == ("1", "2", "2", "1")
    assert "12 epochs trained of 12, 1 more promised to running trials" in [p.proto.text for p in at.get("progress")]
    assert "Best so far:** trial 3, 85.0 % after 4 epochs" in texts(at)
    assert "No search driver is running" in texts(at)
    front = figure(at, "Pareto front")
    assert front["layout"]["xaxis"]["title"]["text"] == "synaptic ops per inference"
    starred = next(t for t in front["data"] if t["name"] == "Pareto front")
    assert starred["x"] == [1e5, 5e5, 9e5] and starred["y"] == [60.0, 80.0, 85.0]
    assert next(t for t in front["data"] if t["name"] == "dominated")["x"] == [2e5]
    best = figure(at, "Best test accuracy so far")["data"][0]
    assert best["y"] == [40.0, 60.0, 80.0, 85.0] and best["x"][-1] == 1.0  # trial 3 ended a minute in
    curves = figure(at, "Test accuracy per epoch")["data"]
    grey = {t["name"] for t in curves if t["line"]["color"] == GREY}
    assert grey == {"stopped early", "trial 1 (stopped)", "trial 2 (stopped)"}
    assert [t["name"] for t in curves if t.get("legendgroup") == "stopped" and t.get("showlegend", True)] == [
        "stopped early"]  # one legend entry for the greyed group
    assert {t["name"] for t in curves} - grey == {"trial 0 (finished)", "trial 3 (finished)", "trial 4 (running)"}
    table = at.dataframe[0].value
    assert list(table["trial"]) == [0, 1, 2, 3, 4, 5] and list(table["on front"]) == [True, False, True, True,
                                                                                      False, False]
    assert table["run"][3].startswith("/run?run=")
    assert table["test acc"][5] < 0  # the duplicate has no result: the stand-in value the table shows as a dash


def test_a_search_whose_record_another_writer_broke_is_listed_with_why_not_a_crash(store):
    sid = planted_search(store)
    store.conn.hset(Keys.search(sid), "spec", "{not json")
    at = page("pages/search.py", search=sid)
    assert not at.exception
    assert any(f"Search {sid} cannot be shown: search spec is not valid JSON" in e.value for e in at.error)


def test_the_buttons_call_the_driver_and_stop_sets_the_status(store):
    sid = planted_search(store)
    store.claim_driver("test-driver", 60)
    at = page("pages/search.py", search=sid)
    assert "No search driver is running" not in texts(at)
    widget(at, "button", "search_stop").click().run()
    assert controls(store, sid)[-1]["action"] == "stop"
    Driver(store.conn, "unused").control(controls(store, sid)[-1])  # what the driver does with that entry
    at.run()
    assert metrics(at)["Status"] == "stopping" and widget(at, "button", "search_stop").disabled
    widget(at, "button", "search_resume").click().run()
    assert controls(store, sid)[-1]["action"] == "resume"
    widget(at, "text_input", "search_more_epochs").input("abc")
    widget(at, "button", "search_extend").click().run()
    assert "extend epochs must be an integer, got 'abc'" in [e.value for e in at.error]
    assert controls(store, sid)[-1]["action"] == "resume"  # nothing sent
    widget(at, "text_input", "search_more_epochs").input("6")
    widget(at, "text_input", "search_more_seconds").input("90")
    widget(at, "button", "search_extend").click().run()
    assert {k: controls(store, sid)[-1][k] for k in ("action", "epochs", "seconds")} == {
        "action": "extend", "epochs": "6", "seconds": "90.0"}


def test_a_single_objective_search_has_no_front(store):
    sid = planted_search(store, objective="accuracy")
    at = page("pages/search.py", search=sid)
    assert not [f for f in at.get("plotly_chart") if "Pareto" in f.proto.spec]
    assert "on front" not in at.dataframe[0].value.columns
    assert figure(at, "Test accuracy per epoch")


def test_no_search_says_how_to_start_one(store):
    at = page("pages/search.py")
    assert "No search yet" in texts(at) and "python -m workers search" in texts(at)


def search_section(at, **texts_: str):
    widget(at, "checkbox", "sf_on_beta").check()
    widget(at, "checkbox", "sf_on_lr").check()
    at.run()
    for key, value in texts_.items():
        widget(at, "text_input", key).input(value)
    at.run()
    return at


def test_launch_starts_a_valid_search_from_the_form(store):
    at = search_section(page("pages/launch.py"), sf_low_beta="0.6", sf_high_beta="0.9", sf_budget_epochs="20",
                        sf_rungs="1,2,4", sf_eta="2")
    summary = texts(at)
    assert "Searches beta, lr;" in summary and "Rungs 1 -> 2 -> 4" in summary and "20 epochs in all" in summary
    widget(at, "button", "sf_start").click().run()
    (stored,) = store.list_searches()
    spec = SearchSpec.from_json(stored["spec"])
    assert [p.to_dict() for p in spec.space] == [
        {"name": "beta", "kind": "float", "low": 0.6, "high": 0.9, "log": False},
        {"name": "lr", "kind": "float", "low": 1e-4, "high": 1e-2, "log": True}]
    assert (spec.budget_epochs, spec.rungs, spec.eta, spec.base.epochs) == (20, (1, 2, 4), 2, 4)
    assert f"Started search **{stored['id']}**" in texts(at) and "No search driver is running" in texts(at)


@pytest.mark.parametrize("inputs, message", [
    ({"sf_low_beta": "0.9", "sf_high_beta": "0.5"}, "space beta: range must have low < high, got 0.9:0.5 (reversed)"),
    ({"sf_low_beta": "0.7", "sf_high_beta": "0.7"}, "space beta: range must have low < high, got 0.7:0.7 (empty)"),
    ({"sf_budget_epochs": "0", "sf_budget_minutes": "0"},
     "budget must be > 0: give budget_epochs and/or budget_seconds, got 0 and 0"),
    ({"sf_low_lr": "abc"}, "lr low must be a number, got 'abc'"),
    ({"sf_max_running": "two"}, "max running must be an integer, got 'two'"),
])
def test_launch_refuses_a_bad_search_in_one_line_and_stores_nothing(store, inputs, message):
    at = search_section(page("pages/launch.py"), **inputs)
    assert [e.value for e in at.error] == [message]
    assert not [b for b in at.button if b.key == "sf_start"]
    assert store.list_searches() == [] and not store.conn.exists(Keys.search_control)


def test_launch_search_choices_and_objective(store):
    at = page("pages/launch.py")
    widget(at, "checkbox", "sf_on_encoder").check()
    widget(at, "selectbox", "sf_objective").set_value("accuracy+flops")
    at.run()
    widget(at, "multiselect", "sf_choices_encoder").set_value(["image", "bernoulli"])
    at.run()
    widget(at, "button", "sf_start").click().run()
    spec = SearchSpec.from_json(store.list_searches()[0]["spec"])
    assert spec.space[0].choices == ("image", "bernoulli") and spec.objective == "accuracy+flops"


def test_a_bad_row_keeps_the_other_rows_state(store):
    at = search_section(page("pages/launch.py"), sf_low_beta="abc", sf_high_lr="5e-2")
    assert [e.value for e in at.error] == ["beta low must be a number, got 'abc'"]
    widget(at, "text_input", "sf_low_beta").input("0.6")
    at.run()
    widget(at, "button", "sf_start").click().run()
    spec = SearchSpec.from_json(store.list_searches()[0]["spec"])
    assert [(p.name, p.low, p.high) for p in spec.space] == [("beta", 0.6, 0.95), ("lr", 1e-4, 5e-2)]
