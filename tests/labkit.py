"""Lab launches with stored runs, for the Lab report tests (page and export)."""

from __future__ import annotations

from typing import Any, Callable

from snn_core.lab import STUDIES
from tests.pagekit import stored_run


def study_lab(store, key: str, final_acc: Callable[[Any, int], float], seeds: int = 2,
              epochs: int | None = 2) -> str:
    """A lab launch of one study whose runs (two epochs stored, the second's test accuracy
    final_acc(value, seed)) are stored as a worker stores them. epochs=None keeps the lab's 10 in the
    configs, so the sweep base's runs are the FLOPs claim's."""
    study = STUDIES[key]
    base = study.base.replace(epochs=epochs) if epochs else study.base
    sweep_id = store.create_sweep(base, {study.field: list(study.values), "seed": list(range(seeds))})
    ids = [stored_run(store, base.replace(**{study.field: value, "seed": seed}), accs=(0.5, final_acc(value, seed)),
                      sweep_id=sweep_id)
           for value in study.values for seed in range(seeds)]
    store.set_sweep_runs(sweep_id, ids)
    return store.create_lab({key: sweep_id}, seeds, {}, {"runs": len(ids)})


def loss_lab(store, ce_acc: float, mse_acc: float, seeds: int = 2) -> str:
    """A lab launch of the loss study: CE and MSE reach ce_acc and mse_acc (+ 0.001 per seed)."""
    return study_lab(store, "loss", lambda loss, seed: (ce_acc if loss == "ce" else mse_acc) + 0.001 * seed, seeds)
