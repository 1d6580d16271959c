"""Helpers for the search tests: a tiny search spec and a `python -m workers search-driver` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from snn_core.config import RunConfig
from workers.search_spec import Param, SearchSpec

ROOT = Path(__file__).resolve().parents[1]

TINY = dict(T=4, hidden=(8,), encoder="image", train_limit=256, test_limit=128, batch_size=64, test_batch_size=128)


def tiny_spec(**changes) -> SearchSpec:
    values = dict(space=(Param("beta", "float", 0.5, 0.95), Param("lr", "float", 1e-3, 3e-2, log=True)),
                  base=RunConfig(**TINY), budget_epochs=12, max_running=2, rungs=(1, 2, 4), eta=2, seed=0)
    values.update(changes)
    return SearchSpec(**values)


def start_driver(url: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "SPIKEBOARD_DRIVER_TTL": "3"}
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "workers", "search-driver"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)


# A planted search: (state, epoch accuracies of its run, cost at its last epoch, seconds after the search began
# when it ended or None). Front of the ended ones (acc up, cost down): trials 2, 0, 3; trial 1 is dominated by 2.
PLANTED = [("finished", (0.5, 0.6, 0.7, 0.8), 5e5, 30.0), ("stopped", (0.4,), 2e5, 10.0),
           ("stopped", (0.5, 0.6), 1e5, 20.0), ("finished", (0.6, 0.7, 0.8, 0.85), 9e5, 60.0),
           ("running", (0.7,), 3e5, None)]


def planted_search(store, objective: str = "accuracy+sops") -> str:
    """A search record and its trials in several states, each with a run written as a worker writes one
    (`tests.pagekit.stored_run`), plus a duplicate trial pointing at trial 0's run. Returns its id."""
    from workers.store import RunStatus

    from tests.pagekit import stored_run

    spec = tiny_spec(objective=objective)
    sid = store.create_search(spec.to_json())
    created = store.get_search(sid)["created_at"]
    run_ids = []
    for number, (state, accs, cost, ended) in enumerate(PLANTED):
        params = {"beta": 0.5 + 0.1 * number, "lr": 0.001 * (number + 1)}
        status = {"finished": RunStatus.FINISHED, "stopped": RunStatus.HELD, "running": RunStatus.RUNNING}[state]
        run_id = stored_run(store, spec.to_config(params), accs=accs, status=status)
        run_ids.append(run_id)
        last = [accs[-1], cost] if spec.multi else [accs[-1]]
        store.put_trial(sid, number, {
            "number": number, "run_id": run_id, "state": state, "params": params,
            "hold": 2 if state == "running" else 0, "epochs": len(accs), "start_epochs": 0, "rungs": {"last": last}, "reached": len(accs),
            "created_at": created, "ended_at": created + ended if ended is not None else None, "note": ""},
            run_id=run_id)
    store.put_trial(sid, len(PLANTED), {
        "number": len(PLANTED), "run_id": run_ids[0], "state": "duplicate", "params": {"beta": 0.5, "lr": 0.001},
        "hold": 0, "epochs": 0, "start_epochs": 0, "rungs": {}, "reached": 0, "created_at": created,
        "ended_at": created + 5, "note": f"same config as run {run_ids[0]} (finished)"})
    return sid
