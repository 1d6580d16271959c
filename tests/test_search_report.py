"""The Search page's numbers (`workers.search_report`) on a planted search in a real redis-server:
trials in every state, each with a run written as a worker writes one."""

from __future__ import annotations

import pytest

from workers import search
from workers import search_report as report

from tests.searchkit import PLANTED, planted_search, tiny_spec


@pytest.fixture
def view(store):
    return search.search_view(store, planted_search(store))


def test_the_table_has_every_trial_with_its_run_link_and_front_flag(view):
    rows = report.trial_rows(view)
    assert [r["trial"] for r in rows] == list(range(len(PLANTED) + 1))
    assert [r["state"] for r in rows] == [s for s, *_ in PLANTED] + ["duplicate"]
    assert [r["epochs"] for r in rows] == [len(a) for _, a, *_ in PLANTED] + [0]
    assert rows[3]["test acc"] == 0.85 and rows[3]["synaptic ops per inference"] == 9e5
    assert [r["trial"] for r in rows if r["on front"]] == [0, 2, 3]
    assert rows[1]["run"] == f"/run?run={view.trials[1]['run_id']}"
    assert rows[0]["params"] == "beta 0.5 · lr 0.001"


def test_the_scatter_holds_the_ended_trials_and_marks_the_front(view):
    points = report.pareto_points(view)
    assert sorted(p["number"] for p in points) == [0, 1, 2, 3]  # not the running one, not the duplicate
    assert {p["number"]: p["front"] for p in points} == {0: True, 1: False, 2: True, 3: True}
    assert [p["number"] for p in view.front] == [2, 0, 3]  # cheapest first


def test_curves_read_every_trials_epochs_and_grey_the_stopped_ones(store, view):
    curves = report.trial_curves(store, view)
    assert [c["number"] for c in curves] == [0, 1, 2, 3, 4]  # the duplicate has no run of its own
    assert [c["acc"] for c in curves] == [list(a) for _, a, *_ in PLANTED]
    assert [c["epochs"] for c in curves][2] == [1, 2]
    assert [c["number"] for c in curves if c["greyed"]] == [1, 2]


def test_budget_lines_count_epochs_against_the_limit(view):
    epochs, seconds = report.budget_lines(view)
    assert epochs["used"] == 12 and epochs["limit"] == 12 and epochs["fraction"] == 1.0
    assert epochs["text"] == "12 epochs trained of 12, 1 more promised to running trials"
    assert seconds["limit"] is None and seconds["fraction"] is None and seconds["text"].endswith("(no time limit)")


def test_the_label_and_choices_name_status_objective_and_best(store, view):
    assert report.search_label(view) == f"{view.id} · running · accuracy+sops · best 85.0 % · 6 trials"
    other = store.create_search(tiny_spec().to_json())
    assert [sid for sid, _ in report.search_choices(store)] == [other, view.id]  # newest first
    assert report.search_choices(store)[0][1] == f"{other} · running · accuracy · best no result yet · 0 trials"


def test_the_signature_ignores_the_clock_but_not_a_trial(store, view):
    later = search.search_view(store, view.id)
    assert later.budget["wall_used"] > view.budget["wall_used"]
    assert report.view_signature(later) == report.view_signature(view)
    row = store.trials(view.id)[4]
    store.put_trial(view.id, 4, {**row, "state": "stopped", "ended_at": row["created_at"] + 70})
    assert report.view_signature(search.search_view(store, view.id)) != report.view_signature(view)


def test_the_dry_run_summary_says_what_the_budget_buys():
    lines = report.spec_summary(tiny_spec(objective="accuracy+flops", budget_seconds=600.0))
    assert lines[0].startswith("Searches beta, lr;")
    assert "Rungs 1 -> 2 -> 4" in lines[1] and "top 1/2" in lines[1] and "trains 4 epochs" in lines[1]
    assert lines[2] == ("Budget: 12 epochs in all (at most 12 trials to rung 1, or 3 trained all the way) and "
                        "10 min 00 s wall time; at most 2 runs at once.")
    assert lines[3] == "Objectives: test accuracy and FLOPs per inference (from measured firing rates), a Pareto front."
