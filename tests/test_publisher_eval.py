"""While a run evaluates, its progress says so, with an ETA that counts the test passes left
(issue 21, item 4): a real Publisher over a real Redis, driven by real training."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import torch

from snn_core.config import RunConfig
from snn_core.data import load_data
from snn_core.training import fit
from workers.publisher import Publisher, eta_shown
from workers.store import RunStore


def test_progress_says_evaluating_with_an_eta_that_counts_evaluation(redis_conn, synthetic_data_dir):
    store = RunStore(redis_conn)
    # A test set five times the training set: evaluation is most of each epoch.
    config = RunConfig(T=30, epochs=2, train_limit=200, test_limit=1000, batch_size=50, data_dir=str(synthetic_data_dir),
                       device="cpu")
    run_id = store.create_run(config).id
    data = load_data(config.dataset, synthetic_data_dir, torch.device("cpu"), config.train_limit, config.test_limit)
    lease = SimpleNamespace(fence=None, lost=threading.Event())
    publisher = Publisher(store, run_id, config, data, torch.device("cpu"), None, None, lease)
    callbacks = publisher.callbacks()
    seen = {}

    def on_eval_start(epoch):
        callbacks_eval(epoch)
        seen[f"eval {epoch}"] = store.get_run(run_id).progress

    def on_epoch_end(metrics):
        epoch_end(metrics)
        seen[f"epoch {metrics.epoch}"] = dict(eval_s=publisher.eval_s)

    def on_batch_end(info):
        batch_end(info)
        if info.epoch == 2 and info.batch == info.batches:
            seen["last batch"] = store.get_run(run_id).progress

    callbacks_eval, epoch_end, batch_end = callbacks.on_eval_start, callbacks.on_epoch_end, callbacks.on_batch_end
    callbacks.on_eval_start, callbacks.on_epoch_end, callbacks.on_batch_end = on_eval_start, on_epoch_end, on_batch_end
    fit(config, callbacks, data=data)

    first, last = seen["eval 1"], seen["eval 2"]
    assert first["phase"] == "evaluating" and first["epoch"] == 1 and first["batch"] == first["batches"] == 4
    assert first["eta_s"] > 0 and last["eta_s"] > 0  # never "ETA 0s" while the test set runs
    measured = seen["epoch 1"]["eval_s"]
    assert measured > 0 and last["eta_s"] == eta_shown(measured)  # the last pass: as long as the one before
    # At the last batch the training is done but one test pass is not: the ETA is that pass.
    assert "phase" not in seen["last batch"] and seen["last batch"]["eta_s"] == eta_shown(measured)
