"""A lab launch with stored runs, for the Lab report tests (page and export)."""

from __future__ import annotations

from snn_core.lab import STUDIES
from tests.pagekit import stored_run


def loss_lab(store, ce_acc: float, mse_acc: float, seeds: int = 2) -> str:
    """A lab launch of the loss study whose runs are stored as a worker stores them."""
    study = STUDIES["loss"]
    base = study.base.replace(epochs=2)
    sweep_id = store.create_sweep(base, {"loss": list(study.values), "seed": list(range(seeds))})
    ids = [stored_run(store, base.replace(loss=loss, seed=seed), accs=(0.5, acc + 0.001 * seed), sweep_id=sweep_id)
           for loss, acc in (("mse", mse_acc), ("ce", ce_acc)) for seed in range(seeds)]
    store.set_sweep_runs(sweep_id, ids)
    return store.create_lab({"loss": sweep_id}, seeds, {}, {"runs": len(ids)})
