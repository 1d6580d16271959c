"""The Search page under AppTest, on a stored search (planted trial table) in a real Redis."""

from __future__ import annotations

import json

from workers.store import RunStore

from tests.pagekit import figure, page, texts, widget
from tests.searchkit import tiny_spec


def _plant(store: RunStore, objective: str) -> str:
    sid = store.create_search(tiny_spec(objective=objective).to_json())
    created = store.get_search(sid)["created_at"]
    for n, (state, reached, values) in enumerate([("finished", 4, [0.8, 900.0]), ("stopped", 1, [0.4, 100.0]),
                                                  ("stopped", 2, [0.6, 300.0])]):
        store.put_trial(sid, n, {"number": n, "run_id": f"{n:012x}", "state": state, "params": {"beta": 0.5 + n / 10},
                                 "hold": 0, "epochs": reached, "start_epochs": 0, "reached": reached,
                                 "rungs": {"last": values if objective != "accuracy" else values[:1]},
                                 "created_at": created, "ended_at": created + 10 * (n + 1), "note": ""},
                        run_id=f"{n:012x}")
    return sid


def test_search_page_shows_budget_best_front_and_trials(store):
    sid = _plant(store, "accuracy+sops")
    at = page("pages/search.py", search=sid)
    shown = texts(at)
    assert "Best so far: **0.8000** test accuracy, trial 0" in shown and "No search driver is running" in shown
    assert [m.value for m in at.metric][:2] == ["running", "7 / 12"]  # 4 + 1 + 2 epochs of 12
    best = figure(at, "Best test accuracy so far")
    assert best["data"][0]["y"] == [0.8, 0.8, 0.8]
    front = figure(at, "Pareto front")
    assert next(t for t in front["data"] if t["name"] == "stopped early")["x"] == [100.0, 300.0]  # greyed
    assert next(t for t in front["data"] if t["name"] == "Pareto front")["x"] == [100.0, 300.0, 900.0]
    table = at.dataframe[0].value
    assert list(table["state"]) == ["finished", "stopped", "stopped"] and table["run"][0] == "/run?run=000000000000"

    widget(at, "button", "search_stop").click().run()
    entries = store.conn.xrange("spikeboard:search:control")
    assert [json.loads(json.dumps({k.decode(): v.decode() for k, v in e[1].items()}))["action"]
            for e in entries] == ["start", "stop"]


def test_search_page_without_searches_says_so(store):
    assert "No search yet" in texts(page("pages/search.py"))
