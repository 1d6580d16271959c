"""Shared helpers for the page tests: stored runs, AppTest drivers, chart readers, the `store` fixture."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from snn_core.config import RunConfig
from snn_core.model import SNN
from snn_core.recording import record, recording_to_dict
from workers.store import RunStatus, RunStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 30


def epoch_metrics(epoch: int, acc: float, rates=(0.3, 0.12, 0.05)) -> dict:
    return {"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc - 0.02, "test_loss": 1.1 / epoch,
            "test_acc": acc, "firing_rates": list(rates), "epoch_seconds": 2.0, "samples_per_s": 500.0}


def stored_run(store: RunStore, config: RunConfig, accs=(0.5, 0.7), status=RunStatus.FINISHED,
               batches: int = 4, sweep_id=None, tags=(), probes: bool = False) -> str:
    """A run written exactly as a worker writes one: record, batch and epoch metrics, probes."""
    rec = store.create_run(config, sweep_id=sweep_id, tags=tags)
    store.set_status(rec.id, RunStatus.RUNNING, started_at=time.time() - 30, worker="w-test", device="cpu")
    best = None
    for e, acc in enumerate(accs, start=1):
        for b in range(1, batches + 1):
            store.append_metric(rec.id, "batch", {"epoch": e, "batch": b, "batches": batches, "loss": 1.0 / (e + b)})
        m = epoch_metrics(e, acc)
        store.append_metric(rec.id, "epoch", m)
        best = m if best is None or m["test_acc"] > best["test_acc"] else best
        if probes:
            store.save_probes(rec.id, e, probe_dict(config, e))
        progress = {"epoch": e, "batch": batches, "batches": batches, "percent": 100 * e / config.epochs, "eta_s": 3.0}
        store.set_status(rec.id, RunStatus.RUNNING, last_metrics=m, best_metrics=best, progress=progress)
    if status is not RunStatus.RUNNING:
        store.set_status(rec.id, status, finished_at=time.time())
    return rec.id


def probe_dict(config: RunConfig, epoch: int) -> dict:
    """A real recording of a real (untrained) model on three synthetic digits."""
    gen = torch.Generator().manual_seed(epoch)
    model = SNN(config, gen)
    images = torch.rand(3, 784, generator=gen)
    return recording_to_dict(record(model, images, torch.tensor([3, 5, 7]), config), epoch, config.encoder.value)


def page(path: str, **query) -> AppTest:
    """The app opened on `path` (a page file), with query parameters, after one run."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page(path)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "success", "info", "warning", "error", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def figures(at: AppTest) -> list[dict]:
    import json

    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def figure(at: AppTest, title: str) -> dict:
    """The chart whose title starts with `title`."""
    return next(f for f in figures(at) if f["layout"]["title"]["text"].startswith(title))


def trace_points(fig: dict, name: str) -> list:
    return next(t["x"] for t in fig["data"] if t.get("name") == name)


def widget(at: AppTest, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


# -- FLOPs --------------------------------------------------------------------------
