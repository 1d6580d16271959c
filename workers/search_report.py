"""What the Search page lays out, computed from a `SearchView` (issue 18): the search picker's
labels, the budget lines, the trial table, the Pareto scatter and the trials' accuracy curves.

No torch and no Streamlit: the web side imports this, and the tests call it on planted data.
Only `trial_curves` reads runs (their epoch histories); everything else is the view's own data.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .search import SearchView, search_view
from .search_spec import SearchSpec
from .store import RunStore

__all__ = ["COST_UNITS", "search_choices", "search_label", "budget_lines", "trial_rows", "pareto_points",
           "trial_curves", "view_signature", "fmt_params", "spec_summary"]

# The second objective's axis label: the unit the driver measured it in (per test sample, T steps).
COST_UNITS = {"accuracy+sops": "synaptic ops per inference", "accuracy+flops": "FLOPs per inference"}


def _pct(acc: float | None) -> str:
    return "-" if acc is None else f"{100 * acc:.1f} %"


def fmt_params(params: dict[str, Any]) -> str:
    """`beta 0.72 · lr 0.0031 · encoder image`: a trial's sampled values, short."""
    return " · ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(params.items()))


def search_label(view: SearchView) -> str:
    """`x1a2b3c4d5e6 · running · accuracy+sops · best 91.2 % · 7 trials`: the picker's line."""
    best = _pct(view.best["acc"]) if view.best else "no result yet"
    n = len(view.trials)
    return f"{view.id} · {view.status} · {view.objective} · best {best} · {n} trial{'s' if n != 1 else ''}"


def search_choices(store: RunStore) -> list[tuple[str, str]]:
    """(search id, label) for every stored search, newest first."""
    out = []
    for s in store.list_searches():
        try:
            out.append((s["id"], search_label(search_view(store, s["id"]))))
        except ValueError as exc:  # a record another writer broke: listed, with why it cannot be shown
            out.append((s["id"], f"{s['id']} · cannot be shown: {str(exc)[:120]}"))
    return out


def budget_lines(view: SearchView) -> list[dict[str, Any]]:
    """One line per budget kind the search has: epochs trained (and promised to running trials)
    and wall seconds, each against its limit: {"kind", "used", "limit", "fraction" (0..1 or None
    without a limit), "text"}."""
    b, out = view.budget, []
    if b["epochs_limit"] is not None or b["epochs_used"]:
        limit = b["epochs_limit"]
        text = f"{b['epochs_used']} epochs trained" + (f" of {limit}" if limit is not None else " (no epoch limit)")
        if b["epochs_promised"]:
            text += f", {b['epochs_promised']} more promised to running trials"
        out.append({"kind": "epochs", "used": b["epochs_used"], "limit": limit, "text": text,
                    "fraction": min(1.0, b["epochs_used"] / limit) if limit else None})
    limit = b["seconds_limit"]
    text = f"{_duration(b['wall_used'])} wall time" + (f" of {_duration(limit)}" if limit is not None else
                                                      " (no time limit)")
    out.append({"kind": "seconds", "used": b["wall_used"], "limit": limit, "text": text,
                "fraction": min(1.0, b["wall_used"] / limit) if limit else None})
    return out


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def trial_rows(view: SearchView) -> list[dict[str, Any]]:
    """The trial table: number, state, sampled values, epochs reached, accuracy and cost at the last
    epoch reached, whether it is on the Pareto front, its run (id and the Run page's address), note."""
    on_front = {p["number"] for p in view.front}
    cost = COST_UNITS.get(view.objective)
    rows = []
    for t in view.trials:
        row = {"trial": t["number"], "state": t["state"], "params": fmt_params(t["params"]), "epochs": t["reached"],
               "test acc": t["acc"]}
        if cost:
            row[cost] = t["cost"]
            row["on front"] = t["number"] in on_front
        row.update({"run": f"/run?run={t['run_id']}", "note": t["note"]})
        rows.append(row)
    return rows


def pareto_points(view: SearchView) -> list[dict[str, Any]]:
    """Every ended trial with an accuracy and a cost (duplicates excluded, as in the front), and
    whether it is on the front: {"number", "run_id", "state", "acc", "cost", "front", "params"}."""
    on_front = {p["number"] for p in view.front}
    return [{"number": t["number"], "run_id": t["run_id"], "state": t["state"], "acc": t["acc"], "cost": t["cost"],
             "front": t["number"] in on_front, "params": fmt_params(t["params"])}
            for t in view.trials
            if t["ended_at"] and t["acc"] is not None and t["cost"] is not None and t["state"] != "duplicate"]


def trial_curves(store: RunStore, view: SearchView) -> list[dict[str, Any]]:
    """Each trial's test accuracy per epoch, read from its run's epoch metrics: {"number", "run_id",
    "state", "greyed" (stopped early), "epochs", "acc"}. Duplicates (another trial's run) are left out;
    a trial whose run has no epoch yet has empty lists."""
    out = []
    for t in view.trials:
        if t["state"] == "duplicate":
            continue
        history = store.epoch_history(t["run_id"])
        out.append({"number": t["number"], "run_id": t["run_id"], "state": t["state"], "greyed": t["greyed"],
                    "epochs": [int(e["epoch"]) for e in history], "acc": [float(e["test_acc"]) for e in history]})
    return out


def view_signature(view: SearchView) -> str:
    """What changes when the page must redraw its charts and table: everything but the wall clock,
    which moves every second while the search runs."""
    data = asdict(view)
    data["budget"] = {k: v for k, v in data["budget"].items() if k != "wall_used"}
    return json.dumps(data, sort_keys=True, default=str)


def spec_summary(spec: SearchSpec) -> list[str]:
    """The dry run of a spec, before anything is stored: what is searched, how far a trial trains,
    what the budget buys, at most how many train at once and for which objective."""
    rungs = " -> ".join(map(str, spec.rungs))
    lines = [f"Searches {', '.join(p.name for p in spec.space)}; every other field as in the form above.",
             f"Rungs {rungs}: each trial trains {spec.rungs[0]} epoch{'s' if spec.rungs[0] != 1 else ''} first; "
             f"at each rung the top 1/{spec.eta} of the results so far go on, the rest stop early. "
             f"A trial that goes all the way trains {spec.rungs[-1]} epochs."]
    budget = []
    if spec.budget_epochs:
        budget.append(f"{spec.budget_epochs} epochs in all (at most {spec.budget_epochs // spec.rungs[0]} trials "
                      f"to rung {spec.rungs[0]}, or {spec.budget_epochs // spec.rungs[-1]} trained all the way)")
    if spec.budget_seconds:
        budget.append(f"{_duration(spec.budget_seconds)} wall time")
    many = "s" if spec.max_running != 1 else ""
    lines.append("Budget: " + " and ".join(budget) + f"; at most {spec.max_running} run{many} at once.")
    unit = COST_UNITS.get(spec.objective)
    lines.append("Objective: test accuracy." if unit is None else
                 f"Objectives: test accuracy and {unit} (from measured firing rates), a Pareto front.")
    return lines
