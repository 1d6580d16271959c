"""Cost against accuracy, the Pareto front and the importance of hyperparameters, on planted runs."""

from __future__ import annotations

import random

import pytest

from workers.analysis import (cost_rows, determinism, importance, importance_rows, next_free_seed, pareto_front,
                              run_cost)
from workers.records import RunRecord, RunStatus


def test_run_cost_reproduces_the_lab_hand_count():
    # The lab: 784-10-10, T = 5, input rate 1 and hidden rate 0.25 -> ANN 15,900, SNN 78,750 FLOPs.
    cost = run_cost({"hidden": [10], "T": 5, "encoder": "bernoulli"}, [1.0, 0.25, 0.1])
    assert cost["ann_flops"] == 15_900 and cost["flops"] == 78_750
    assert cost["synops"] == (784 * 1.0 * 10 + 10 * 0.25 * 10) * 5
    # The image encoder's analog input is dense whatever its mean intensity.
    assert run_cost({"hidden": [10], "T": 5, "encoder": "image"}, [0.13, 0.25, 0.1])["flops"] == 78_750
    with pytest.raises(ValueError, match="firing_rates must give one rate per layer input"):
        run_cost({"hidden": [10, 10], "T": 5}, [0.2, 0.1])


def test_pareto_front_of_a_planted_set():
    points = [{"id": "a", "synops": 10, "acc": 0.5}, {"id": "b", "synops": 20, "acc": 0.7},
              {"id": "c", "synops": 20, "acc": 0.6},  # b beats it at the same cost
              {"id": "d", "synops": 30, "acc": 0.65},  # b beats it, cheaper
              {"id": "e", "synops": 40, "acc": 0.9}, {"id": "f", "synops": 5, "acc": 0.4},
              {"id": "g", "synops": 10, "acc": 0.5}]  # an exact tie with a: the first is kept
    assert [p["id"] for p in pareto_front(points)] == ["f", "a", "b", "e"]
    assert [p["id"] for p in pareto_front(points, cost="synops", score="acc")][-1] == "e"
    assert pareto_front([]) == []


def record(run_id, acc, rates, **config):
    best = {"epoch": 3, "test_acc": acc, "firing_rates": rates}
    return RunRecord(id=run_id, config={"hidden": [10], "T": 5, "encoder": "bernoulli", **config}, config_hash="h",
                     status=RunStatus.FINISHED, created_at=0.0, best_metrics=best, sweep_id="s1")


def test_cost_rows_use_the_best_epoch_and_skip_runs_without_one():
    rows = cost_rows([record("a", 0.8, [0.5, 0.2, 0.1]), RunRecord("b", {}, "h", RunStatus.QUEUED, 0.0)])
    assert len(rows) == 1 and rows[0]["id"] == "a" and rows[0]["acc"] == 0.8 and rows[0]["sweep"] == "s1"
    assert rows[0]["synops"] == (784 * 0.5 * 10 + 10 * 0.2 * 10) * 5


def test_importance_finds_the_one_hyperparameter_that_drives_accuracy():
    """A planted beta x T sweep where accuracy depends on T alone (plus noise of 0.2 points)."""
    rnd = random.Random(0)
    runs = [record(f"r{i}", 0.5 + 0.08 * [5, 10, 20, 50, 100].index(T) + rnd.uniform(-0.002, 0.002), [0.1, 0.1, 0.1],
                   beta=beta, T=T)
            for i, (beta, T) in enumerate((b, t) for b in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99) for t in (5, 10, 20, 50, 100))]
    result = {r["param"]: r for r in importance(importance_rows(runs, ["beta", "T"]), ["beta", "T"], n_boot=8)}
    t, beta = result["T"], result["beta"]
    assert t["low"] > 0.5 and t["share"] > 0.95  # shuffling T wrecks the fit
    assert abs(beta["importance"]) < 0.05 and beta["low"] < 0.05 and beta["high"] < 0.1
    with pytest.raises(ValueError, match="params must name two or more"):
        importance([], ["beta"])
    with pytest.raises(ValueError, match="at least 4 runs"):
        importance(importance_rows(runs[:3], ["beta", "T"]), ["beta", "T"])


def test_determinism_finds_the_first_differing_metric():
    a = [{"epoch": 1, "test_acc": 0.5, "train_loss": 1.0, "epoch_seconds": 3.0},
         {"epoch": 2, "test_acc": 0.6, "train_loss": 0.8, "epoch_seconds": 3.0}]
    same = [dict(e, epoch_seconds=9.0) for e in a]  # wall-clock may differ
    other = [a[0], dict(a[1], test_acc=0.61)]
    assert determinism({"x": a, "y": same}) == {"runs": 2, "epochs": 2, "identical": True, "close": True,
                                                "max_rel_diff": 0.0, "first_difference": None}
    diff = determinism({"x": a, "y": same, "z": other})
    assert not diff["identical"] and not diff["close"] and diff["first_difference"] == {
        "run": "z", "epoch": 2, "metric": "test_acc", "values": [0.6, 0.61]}
    assert diff["max_rel_diff"] == pytest.approx(0.01 / 0.61)
    rounding = [a[0], dict(a[1], train_loss=0.8 * (1 + 1e-7))]  # a packed run against its solo twin
    near = determinism({"x": a, "y": rounding})
    assert not near["identical"] and near["close"] and near["max_rel_diff"] == pytest.approx(1e-7, rel=1e-3)
    assert determinism({"x": a})["identical"]


def test_next_free_seed_skips_the_seeds_taken():
    runs = [record("a", 0.5, [0.1] * 3, seed=0), record("b", 0.5, [0.1] * 3, seed=4),
            record("c", 0.5, [0.1] * 3, seed=9, beta=0.5)]  # another config
    assert next_free_seed(runs, runs[0].config) == 5
    assert next_free_seed(runs, {**runs[0].config, "T": 50}) == 1


def test_importance_runs_without_torch():
    """The web side computes importances: scikit-learn must not bring torch in."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; sys.path.insert(0, '.'); from workers.analysis import importance\n"
            "rows = [{'beta': 0.5 + 0.1 * (i % 3), 'T': 5 * (1 + i // 3), 'acc': 0.1 * (i // 3)} for i in range(9)]\n"
            "importance(rows, ['beta', 'T'], n_boot=2)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] == 'torch']; assert not bad, bad[:3]")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
