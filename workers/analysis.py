"""Analyses over stored runs: cost against accuracy with its Pareto front, and what matters in a sweep.

Pure functions over run records (`workers.records.RunRecord`) and plain rows; no Redis, no torch
(the web app calls them).

- `run_cost`: synaptic operations and FLOPs per inference of a run, from the firing rates it
  measured on the test set, with `snn_core.flops` (the lab's formulas).
- `pareto_front`: the runs no other run beats on both cost and accuracy.
- `importance`: how much each hyperparameter of a sweep drives accuracy, with its uncertainty.
  The method is scikit-learn's: a random forest fitted to (hyperparameters -> accuracy), and
  `sklearn.inspection.permutation_importance` (the drop in R^2 when one hyperparameter's
  column is shuffled), over bootstrap resamples of the runs. Why this and not optuna's fANOVA
  evaluator: optuna's evaluator is itself built on scikit-learn's forest, needs every run turned
  into a study trial with a search distribution, pulls in SQLAlchemy and Alembic for storage,
  and returns one number per hyperparameter with no spread; the bootstrap gives each estimate an
  interval that says how far a sweep of this size can be trusted.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from snn_core import flops
from snn_core.encoder_table import ENCODERS

from .records import RunRecord


def run_cost(config: dict[str, Any], firing_rates: Sequence[float]) -> dict[str, float]:
    """Per inference (one sample, T steps): synaptic operations (one accumulate per input spike
    per fan-out) and SNN FLOPs (the lab's count, `flops.count`), plus the ANN's FLOPs.

    `firing_rates`: spikes per neuron per step on the test set (input, hidden..., output), as the
    worker measures them. Layer l's input rate is firing_rates[l]; an encoder whose input is analog
    (`EncoderSpec.dense`: image, the same analog image at every step) counts as dense (rate 1).
    """
    layers = [784, *config.get("hidden", [10]), 10]
    rates = [min(1.0, max(0.0, float(r))) for r in firing_rates[: len(layers) - 1]]
    if len(rates) != len(layers) - 1:
        raise ValueError(f"firing_rates must give one rate per layer input ({len(layers) - 1}), got {firing_rates!r}")
    encoder = config.get("encoder")
    if encoder in ENCODERS and ENCODERS[encoder].dense:
        rates[0] = 1.0
    report = flops.count(layers, int(config["T"]), rates)
    return {"synops": report.synaptic_ops, "flops": report.snn_total, "ann_flops": report.ann_total}


def cost_rows(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per run that has finished an epoch: its best epoch's test accuracy and that epoch's cost."""
    rows = []
    for r in records:
        best = r.best_metrics or {}
        if best.get("test_acc") is None or not best.get("firing_rates"):
            continue
        rows.append({"id": r.id, "sweep": r.sweep_id or "", "acc": float(best["test_acc"]), "epoch": best.get("epoch"),
                     **run_cost(r.config, best["firing_rates"])})
    return rows


def pareto_front(points: Sequence[dict[str, Any]], cost: str = "synops", score: str = "acc") -> list[dict[str, Any]]:
    """The points no other point dominates (as cheap or cheaper and as good or better, and strictly
    one of the two), cheapest first. Of exact ties (same cost and score) the first is kept."""
    ordered = sorted(points, key=lambda p: (p[cost], -p[score]))
    front, best = [], -math.inf
    for p in ordered:
        if p[score] > best:
            front.append(p)
            best = p[score]
    return front


def _column(values: Sequence[Any]) -> list[float]:
    """Numbers as they are; anything else (encoder, loss, a hidden list) as its rank among the values."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    order = sorted({repr(v) for v in values})
    return [float(order.index(repr(v))) for v in values]


def importance(rows: Sequence[dict[str, Any]], params: Sequence[str], target: str = "acc", n_boot: int = 30,
               n_trees: int = 60, seed: int = 0, level: float = 0.9) -> list[dict[str, Any]]:
    """Permutation importance of each of `params` for `target`, over `n_boot` bootstrap resamples.

    Each resample of the rows fits a random forest; each hyperparameter's importance is the mean
    drop in the forest's R^2 on all rows when that column is shuffled (5 shuffles). Returns per
    parameter {"param", "importance" (mean over resamples), "low", "high" (the central `level`
    interval), "share" (of the summed positive importances)}, largest first.
    """
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    params = list(params)
    if len(params) < 2:
        raise ValueError(f"params must name two or more hyperparameters, got {params!r}")
    rows = [r for r in rows if r.get(target) is not None]
    if len(rows) < 4:
        raise ValueError(f"importance needs at least 4 runs with a {target}, got {len(rows)}")
    X = np.column_stack([_column([r[p] for r in rows]) for p in params])
    y = np.array([float(r[target]) for r in rows])
    if np.ptp(y) == 0:
        scores = np.zeros((n_boot, len(params)))
    else:
        rng = np.random.default_rng(seed)
        scores = np.empty((n_boot, len(params)))
        for b in range(n_boot):
            idx = rng.integers(0, len(rows), len(rows))
            forest = RandomForestRegressor(n_estimators=n_trees, random_state=seed + b, n_jobs=1).fit(X[idx], y[idx])
            scores[b] = permutation_importance(forest, X, y, n_repeats=5, random_state=seed + b, n_jobs=1).importances_mean
    mean = scores.mean(0)
    lo, hi = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2], axis=0)
    total = float(np.clip(mean, 0, None).sum())
    out = [{"param": p, "importance": float(m), "low": float(l), "high": float(h),
            "share": float(max(m, 0.0) / total) if total > 0 else 0.0}
           for p, m, l, h in zip(params, mean, lo, hi)]
    return sorted(out, key=lambda r: -r["importance"])


def importance_rows(records: Sequence[RunRecord], params: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for `importance`: each run's values of `params` and its best test accuracy."""
    return [{**{p: r.config.get(p) for p in params}, "acc": r.best_metrics["test_acc"], "id": r.id}
            for r in records if (r.best_metrics or {}).get("test_acc") is not None]


# Metrics a same-seed rerun must reproduce exactly (wall-clock fields are left out).
REPRODUCED = ("train_loss", "train_acc", "test_loss", "test_acc", "firing_rates", "latency_acc", "neuron_counts")


def _rel_diff(a: Any, b: Any) -> float:
    """Largest relative difference between two numbers or equal-length lists of them (inf otherwise)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return math.inf
        return max((_rel_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) / max(abs(a), abs(b), 1e-12) if a != b else 0.0
    return 0.0 if a == b else math.inf


def determinism(histories: dict[str, list[dict[str, Any]]], rel_tol: float = 1e-5) -> dict[str, Any]:
    """Whether runs of one config (same seed) trained alike: each run's epochs against the first
    run's, on `REPRODUCED`, over the epochs both have.

    {"runs", "epochs" (compared), "identical" (bit for bit), "close" (every difference within
    `rel_tol` relative: float rounding, as between a packed and a solo run), "max_rel_diff",
    "first_difference": None or {"run", "epoch", "metric", "values": [first's, other's]}}
    """
    ids = list(histories)
    out: dict[str, Any] = {"runs": len(ids), "epochs": 0, "identical": True, "close": True, "max_rel_diff": 0.0,
                           "first_difference": None}
    if len(ids) < 2:
        return out
    ref = {int(e["epoch"]): e for e in histories[ids[0]]}
    for other in ids[1:]:
        for e in histories[other]:
            epoch = int(e["epoch"])
            if epoch not in ref:
                continue
            out["epochs"] = max(out["epochs"], epoch)
            for key in REPRODUCED:
                a, b = ref[epoch].get(key), e.get(key)
                if a is None or b is None or a == b:
                    continue
                diff = _rel_diff(a, b)
                out["identical"] = False
                out["max_rel_diff"] = max(out["max_rel_diff"], diff)
                out["close"] = out["close"] and diff <= rel_tol
                if out["first_difference"] is None:
                    out["first_difference"] = {"run": other, "epoch": epoch, "metric": key, "values": [a, b]}
    return out


def next_free_seed(records: Sequence[RunRecord], config: dict[str, Any]) -> int:
    """One more than the largest seed among runs whose config equals `config` but for the seed."""
    def key(c: dict[str, Any]) -> str:
        return repr(sorted((k, repr(v)) for k, v in c.items() if k not in ("seed", "data_dir", "device")))

    mine = key(config)
    seeds = [int(r.config.get("seed", 0)) for r in records if key(r.config) == mine]
    return max([int(config.get("seed", 0)), *seeds]) + 1
