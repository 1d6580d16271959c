"""Searches through the real job system: a real redis-server, real `python -m workers` processes and a
real `python -m workers search-driver` process, on small synthetic data."""

from __future__ import annotations

import pytest

from workers import search
from workers.search_spec import Param
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of
from tests.searchkit import start_driver, tiny_spec

pytestmark = pytest.mark.timeout(300)


def _check_rule(store: RunStore, sid: str, spec) -> None:
    """Every trial's run trained each epoch once, to a rung; each decision is the ASHA rule's at that moment."""
    trials = store.trials(sid)
    for number, t in trials.items():
        if t["state"] in ("reused", "duplicate"):
            continue
        epochs = epochs_of(store, t["run_id"])
        assert epochs == list(range(1, len(epochs) + 1)), (number, epochs)  # no epoch trained twice
        assert len(epochs) in spec.rungs, (number, epochs)
        record = store.get_run(t["run_id"])
        if t["state"] == "stopped":
            assert record.status is RunStatus.HELD and len(epochs) < spec.rungs[-1]
        if t["state"] == "finished":
            assert record.status is RunStatus.FINISHED and len(epochs) == spec.rungs[-1]


def test_a_search_finishes_within_its_budget_promoting_by_the_rule(store, redis_server, workers, tmp_path):
    spec = tiny_spec()
    workers(2)
    driver = start_driver(redis_server.url, tmp_path / "driver.log")
    try:
        sid = search.start_search(store.conn, spec)
        wait_for(lambda: store.get_search(sid)["status"] == "done", 240, "the search to finish", interval=0.5)
    finally:
        driver.kill()
        driver.wait(10)
    view = search.search_view(store, sid)
    trained = sum(len(epochs_of(store, t["run_id"])) for t in view.trials if t["state"] not in ("reused", "duplicate"))
    assert view.budget["epochs_used"] == trained <= spec.budget_epochs
    assert trained + spec.rungs[0] > spec.budget_epochs - spec.rungs[-1]  # it stopped because the budget was spent
    assert view.counts["stopped"] >= 1 and view.counts["running"] == 0
    _check_rule(store, sid, spec)
    trials = store.trials(sid)
    decisions = [d for t in trials.values() for d in t.get("decisions", [])]
    assert decisions and all(d["promoted"] <= (d["rank"] < d["k"]) for d in decisions)  # promoted only if top k
    for t in trials.values():
        for d in t.get("decisions", []):
            assert d["k"] == max(1, d["of"] // spec.eta)
            assert d["promoted"] == (t["reached"] > d["rung"])  # a promoted run went on; a stopped one did not
            if d["rank"] < d["k"] and not d["promoted"]:
                assert t["note"] == "budget"
    # Trials asked in one round differ only in beta and lr: they trained as one packed job.
    assert any(store.get_run(t["run_id"]).pack_job.startswith("pack-") for t in trials.values())
    promoted = [t for t in trials.values() if t.get("reached", 0) > spec.rungs[0]]
    assert promoted, "no trial was promoted"
    assert view.best is not None and view.best_curve and view.best_curve[-1][1] == max(
        r["acc"] for r in view.trials if r["acc"] is not None)
    print({n: (t["state"], t["reached"], t["rungs"].get("last")) for n, t in trials.items()})


def test_bad_input_is_refused_with_nothing_stored(store):
    with pytest.raises(ValueError, match="budget must be > 0"):
        search.start_search(store.conn, {**tiny_spec().to_dict(), "budget_epochs": 0})
    with pytest.raises(ValueError, match=r"space beta: range must have low < high, got 0.9:0.5 \(reversed\)"):
        search.start_search(store.conn, {**tiny_spec().to_dict(), "space": [
            {"name": "beta", "kind": "float", "low": 0.9, "high": 0.5}]})
    with pytest.raises(ValueError, match="objective must be one of"):
        search.start_search(store.conn, {**tiny_spec().to_dict(), "objective": "speed"})
    with pytest.raises(ValueError, match="start_from: no run or sweep"):
        search.start_search(store.conn, {**tiny_spec().to_dict(), "start_from": ["0123456789ab"]})
    assert store.list_searches() == [] and store.count_runs() == 0
    assert not store.conn.exists("spikeboard:search:control")

def test_a_wall_time_budget_ends_the_search_no_trial_begun_after_it(store, redis_server, workers, tmp_path):
    """budget_seconds alone (no epoch limit): trials and promotions go on until the wall budget is spent,
    none starts after it, the ones running finish their rung, and the search is done soon after."""
    spec = tiny_spec(budget_epochs=0, budget_seconds=8.0, rungs=(1, 2, 4))
    workers(2)
    driver = start_driver(redis_server.url, tmp_path / "driver.log")
    try:
        sid = search.start_search(store.conn, spec)
        began = store.get_search(sid)["created_at"]
        wait_for(lambda: store.get_search(sid)["status"] == "done", 120, "the search to finish", interval=0.5)
    finally:
        driver.kill()
        driver.wait(10)
    record = store.get_search(sid)
    trials = store.trials(sid)
    assert record["wall_used"] >= spec.budget_seconds
    assert record["finished_at"] - began < spec.budget_seconds + 60  # the last rung's jobs, not more
    assert len(trials) > spec.max_running, "it stopped after one round, not at the wall budget"
    assert all(t["created_at"] <= began + spec.budget_seconds + 2 for t in trials.values())
    assert all(t["state"] in ("finished", "stopped") for t in trials.values())
    _check_rule(store, sid, spec)
    view = search.search_view(store, sid)
    assert view.counts["running"] == 0 and view.budget["epochs_limit"] is None


def test_a_two_objective_search_keeps_a_pareto_front(store, redis_server, workers, tmp_path):
    spec = tiny_spec(objective="accuracy+sops", budget_epochs=8, space=(
        Param("v_th", "float", 0.5, 2.0), Param("lr", "float", 1e-3, 3e-2, log=True)))
    workers(2)
    driver = start_driver(redis_server.url, tmp_path / "driver.log")
    try:
        sid = search.start_search(store.conn, spec)
        wait_for(lambda: store.get_search(sid)["status"] == "done", 240, "the search to finish", interval=0.5)
    finally:
        driver.kill()
        driver.wait(10)
    view = search.search_view(store, sid)
    assert view.budget["epochs_used"] <= 8 and view.front and view.hypervolume > 0
    ended = [r for r in view.trials if r["acc"] is not None]
    assert all(r["cost"] > 0 for r in ended)
    for p in view.front:  # nothing ended dominates a front point
        assert not any(r["acc"] >= p["acc"] and r["cost"] <= p["cost"] and (r["acc"], r["cost"]) != (p["acc"], p["cost"])
                       for r in ended)
    record = store.get_run(view.front[0]["run_id"])
    last = store.epoch_history(record.id)[-1]
    from workers.analysis import run_cost

    assert view.front[0]["cost"] == pytest.approx(run_cost(record.config, last["firing_rates"])["synops"])


def test_the_search_api_imports_neither_torch_nor_optuna():
    import subprocess
    import sys

    code = ("import sys; import workers.search, workers.search_spec; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'optuna')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]


def test_the_cli_refuses_bad_input_in_one_line_and_queues_nothing(store, redis_server):
    import subprocess
    import sys

    from tests.searchkit import ROOT

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "workers", *args, "--redis-url", redis_server.url], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)

    for args, message in [
        (("search", "--space", "beta=0.9:0.5", "--budget-epochs", "9"),
         "error: space beta: range must have low < high, got 0.9:0.5 (reversed)"),
        (("search", "--space", "beta=0.5:0.9", "--budget-epochs", "0"), "error: budget must be > 0"),
        (("search", "--space", "beta=0.5:0.9", "--budget-epochs", "9", "--objective", "loss"),
         "error: objective must be one of"),
        (("search", "--space", "width=1:9", "--budget-epochs", "9"), "error: space field must be one of"),
        (("search-extend", "x0123456789ab", "--epochs", "5"), "error: search id not found"),
    ]:
        out = cli(*args)
        assert out.returncode == 2 and out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert store.conn.keys("spikeboard:*") == []
    out = cli("search", "--space", "beta=0.5:0.9", "--space", "lr=1e-4:1e-2:log", "--budget-epochs", "9")
    sid = out.stdout.strip()
    assert out.returncode == 0 and store.get_search(sid)["status"] == "running"
    assert "no search driver is running" in out.stderr
    status = cli("search-status", sid)
    assert status.returncode == 0 and '"status": "running"' in status.stdout
