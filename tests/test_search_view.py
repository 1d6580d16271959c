"""`search_view` and the budget arithmetic, on a planted stored search (a real redis-server, no workers)."""

from __future__ import annotations

import pytest

from workers import search
from workers.search import budget_state, fits

from tests.searchkit import tiny_spec


def _plant(store, spec, rows):
    sid = store.create_search(spec.to_json())
    created = store.get_search(sid)["created_at"]
    for n, (state, reached, values, ended) in enumerate(rows):
        store.put_trial(sid, n, {"number": n, "run_id": f"{n:012x}", "state": state, "params": {"beta": 0.5},
                                 "hold": 2 if state == "running" else 0, "epochs": reached, "start_epochs": 0,
                                 "rungs": {"last": values} if values else {}, "reached": reached,
                                 "created_at": created, "ended_at": created + ended if ended else None, "note": ""},
                        run_id=f"{n:012x}")
    return sid


def test_the_view_of_a_one_objective_search(store):
    spec = tiny_spec(budget_epochs=12)
    sid = _plant(store, spec, [("finished", 4, [0.6], 10.0), ("stopped", 1, [0.3], 4.0), ("stopped", 2, [0.7], 12.0),
                               ("running", 1, None, None), ("reused", 4, [0.5], 1.0)])
    view = search.search_view(store, sid)
    assert view.counts == {"running": 1, "held": 0, "stopped": 2, "finished": 1, "failed": 0, "reused": 1,
                           "duplicate": 0}
    assert [round(t) for t, _ in view.best_curve] == [1, 4, 10, 12]
    assert [b for _, b in view.best_curve] == [0.5, 0.5, 0.6, 0.7]
    assert view.best["number"] == 2 and view.best["greyed"]  # the best so far was stopped at rung 2
    assert view.budget["epochs_used"] == 4 + 1 + 2 + 1 + 4 and view.budget["epochs_promised"] == 1
    assert view.front == [] and view.hypervolume is None and view.driver is None
    assert [t["run_id"] for t in view.trials] == [f"{n:012x}" for n in range(5)]
    assert store.trial_of_run(f"{3:012x}") == (sid, 3)
    with pytest.raises(ValueError, match="search id not found"):
        search.search_view(store, "x" + "0" * 12)


def test_the_view_of_a_two_objective_search_has_its_front(store):
    spec = tiny_spec(objective="accuracy+flops")
    sid = _plant(store, spec, [("finished", 4, [0.8, 100.0], 5.0), ("stopped", 1, [0.6, 10.0], 2.0),
                               ("stopped", 1, [0.5, 50.0], 3.0)])
    view = search.search_view(store, sid)
    assert [(p["acc"], p["cost"]) for p in view.front] == [(0.6, 10.0), (0.8, 100.0)]
    assert view.hypervolume == pytest.approx(0.6 * 90 + 0.8 * 10)  # costs 10..100 at 0.6, 100..110 (the reference) at 0.8


def test_budget_arithmetic():
    spec = tiny_spec(budget_epochs=10, budget_seconds=100.0)
    search_rec = {"wall_used": 30.0, "running_since": 1000.0, "extra_epochs": 2, "extra_seconds": 0.0}
    trials = {0: {"state": "finished", "epochs": 4}, 1: {"state": "running", "epochs": 1, "hold": 2},
              2: {"state": "reused", "epochs": 4, "start_epochs": 4}}
    b = budget_state(spec, search_rec, trials, now=1050.0)
    assert b == {"epochs_used": 5, "epochs_promised": 1, "epochs_limit": 12, "wall_used": 80.0,
                 "seconds_limit": 100.0}
    assert fits(b, 6) and not fits(b, 7)
    assert not fits(budget_state(spec, search_rec, trials, now=1071.0), 1)  # wall time spent
