"""Searches (issue 18), the side the UI and the CLI call: start, stop, extend, resume, and read.

No torch and no Optuna here (the web side imports this): a search is validated into a
`SearchSpec`, recorded, and handed to the search driver (`workers.search_driver`) through the
control stream; everything else the driver does. `search_view` is the pure read a page lays out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import redis

from .search_asha import hypervolume_2d, nondominated_fronts
from .search_spec import SearchSpec
from .store import RunStore

__all__ = ["start_search", "stop_search", "extend_search", "resume_search", "search_view", "SearchView",
           "budget_state", "fits", "TRIAL_STATES"]

TRIAL_STATES = ("running", "held", "stopped", "finished", "failed", "reused", "duplicate")


def start_search(conn: redis.Redis, spec: SearchSpec | dict | str) -> str:
    """Validate `spec` (ValueError naming the field and value; nothing is stored then), record the
    search and ask the driver to start it. Returns the search id."""
    if isinstance(spec, str):
        spec = SearchSpec.from_json(spec)
    elif isinstance(spec, dict):
        spec = SearchSpec.from_dict(spec)
    elif not isinstance(spec, SearchSpec):
        raise ValueError(f"spec must be a SearchSpec, a dict or JSON, got {type(spec).__name__}")
    store = RunStore(conn)
    for ref in spec.start_from:  # named runs and sweeps must exist: a typo would quietly seed nothing
        found = store.get_sweep(ref) if ref.startswith("s") else store.get_run(ref) if len(ref) == 12 else None
        if found is None:
            raise ValueError(f"start_from: no run or sweep {ref[:40]!r}")
    return store.create_search(spec.to_json())


def stop_search(conn: redis.Redis, search_id: str) -> str:
    """Running trials finish their rung; nothing new starts or is promoted until `resume_search`."""
    return RunStore(conn).control_search(search_id, "stop")


def extend_search(conn: redis.Redis, search_id: str, epochs: int = 0, seconds: float = 0.0) -> str:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < float("inf"):
        raise ValueError(f"seconds must be a number >= 0, got {seconds!r}")
    if epochs == 0 and seconds == 0:
        raise ValueError("extend by epochs and/or seconds > 0, got 0 and 0")
    return RunStore(conn).control_search(search_id, "extend", epochs=epochs, seconds=float(seconds))


def resume_search(conn: redis.Redis, search_id: str) -> str:
    return RunStore(conn).control_search(search_id, "resume")


def budget_state(spec: SearchSpec, search: dict[str, Any], trials: dict[int, dict[str, Any]],
                 now: float | None = None) -> dict[str, Any]:
    """Epochs trained by the search's trials (reused ones cost none), epochs promised to running
    trials (to their hold), wall seconds while running, and the limits (None: no limit of that kind)."""
    now = time.time() if now is None else now
    used = sum(max(0, t.get("epochs", 0) - t.get("start_epochs", 0)) for t in trials.values())
    promised = sum(max(0, (t.get("hold") or spec.rungs[-1]) - t.get("epochs", 0))
                   for t in trials.values() if t["state"] == "running")
    wall = search["wall_used"] + (now - search["running_since"] if search.get("running_since") else 0.0)
    epochs_limit = spec.budget_epochs + search["extra_epochs"] if spec.budget_epochs or search["extra_epochs"] else None
    seconds_limit = (spec.budget_seconds + search["extra_seconds"]
                     if spec.budget_seconds or search["extra_seconds"] else None)
    return {"epochs_used": used, "epochs_promised": promised, "epochs_limit": epochs_limit, "wall_used": wall,
            "seconds_limit": seconds_limit}


def fits(budget: dict[str, Any], epochs: int) -> bool:
    """Whether `epochs` more (promised now) stay within the budget, and wall time is left."""
    if budget["seconds_limit"] is not None and budget["wall_used"] >= budget["seconds_limit"]:
        return False
    limit = budget["epochs_limit"]
    return limit is None or budget["epochs_used"] + budget["epochs_promised"] + epochs <= limit


@dataclass
class SearchView:
    """What a page shows of one search. `trials`: one row per trial (number, run_id, state, params,
    reached epochs, acc and cost at the last epoch reached, greyed = stopped early). `best_curve`:
    (seconds since the search was created, best accuracy so far) at each trial that ended. `front`:
    the Pareto front (acc up, cost down) of ended trials, cheapest first, with its hypervolume."""

    id: str
    status: str
    objective: str
    spec: dict[str, Any]
    budget: dict[str, Any]
    counts: dict[str, int]
    best: dict[str, Any] | None
    best_curve: list[tuple[float, float]]
    front: list[dict[str, Any]]
    hypervolume: float | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    driver: str | None = None  # the live driver's name; None: no driver is running


def search_view(store: RunStore, search_id: str) -> SearchView:
    """Everything the Search page shows, from the search record and its trial table (no run is read)."""
    search = store.get_search(search_id)
    if search is None:
        raise ValueError(f"search id not found: {search_id!r}")
    spec = SearchSpec.from_json(search["spec"])
    trials = store.trials(search_id)
    rows = []
    for number, t in trials.items():
        last = t.get("rungs", {}).get("last")
        rows.append({"number": number, "run_id": t["run_id"], "state": t["state"], "params": t.get("params", {}),
                     "reached": t.get("reached", 0), "acc": last[0] if last else None,
                     "cost": last[1] if last and len(last) > 1 else None, "greyed": t["state"] == "stopped",
                     "ended_at": t.get("ended_at"), "note": t.get("note", "")})
    counts = {s: sum(r["state"] == s for r in rows) for s in TRIAL_STATES}
    ended = sorted((r for r in rows if r["ended_at"] and r["acc"] is not None and r["state"] != "duplicate"),
                   key=lambda r: r["ended_at"])
    curve, best, best_row = [], float("-inf"), None
    for r in ended:
        # Stopped trials count too: their accuracy was measured, at fewer epochs.
        if r["acc"] > best:
            best, best_row = r["acc"], r
        curve.append((max(0.0, r["ended_at"] - search["created_at"]), best))
    front, hv = [], None
    if spec.multi:
        points = [(r["acc"], r["cost"]) for r in ended if r["cost"] is not None]
        if points:
            first = nondominated_fronts(points)[0]
            pts = [r for r in ended if r["cost"] is not None]
            front = sorted(({"number": pts[i]["number"], "run_id": pts[i]["run_id"], "acc": points[i][0],
                             "cost": points[i][1]} for i in first), key=lambda p: p["cost"])
            hv = hypervolume_2d(points, (0.0, max(c for _, c in points) * 1.1))
    return SearchView(id=search_id, status=search["status"], objective=spec.objective, spec=spec.to_dict(),
                      budget=budget_state(spec, search, trials), counts=counts, best=best_row, best_curve=curve,
                      front=front, hypervolume=hv, trials=rows, driver=store.driver_alive())
