"""The RQ job: train one run through `snn_core`, with everything the UI shows written to Redis.

`train_run(run_id)` runs inside a work horse (see `workers.worker`). It

- holds a lease on the run (a key with a short TTL, renewed by a thread) so that, if this
  process dies, a live worker's reaper sees the run orphaned and requeues it;
- publishes batch-loss points (at most one per `SPIKEBOARD_METRIC_INTERVAL` seconds, 0.25 by
  default) and one entry per epoch into the run's metrics stream, and progress (epoch, batch,
  percent, ETA) into the record and `job.meta`;
- writes the checkpoint into Redis at every epoch end (and when stopped mid-epoch), and the
  probe digits' spike recording at every epoch end;
- checks the cancel flag and this process's stop request after every batch;
- resumes from the stored checkpoint when there is one (a requeued or retried run).

`train_pack(run_ids)` does the same for a sweep's compatible runs trained as one packed model.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any

import redis
import rq
import torch

from snn_core import checkpoint as ckpt_io
from snn_core.config import RunConfig
from snn_core.data import DataBundle, load_data
from snn_core.model import SNN
from snn_core.recording import probe_indices, record, recording_to_dict
from snn_core.training import BatchInfo, Callbacks, EpochMetrics, device_name, fit, fit_packed, resolve_device

from .health_watch import HealthWatch
from .service import connect, requeue_run
from .store import DONE_STATUSES, RunStatus, RunStore

# Set by SIGTERM in the work horse: finish the batch, checkpoint, hand the run back.
STOP = threading.Event()


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {raw!r}")
    return value


def metric_interval() -> float:
    return _env_float("SPIKEBOARD_METRIC_INTERVAL", 0.25)


def lease_ttl() -> float:
    return _env_float("SPIKEBOARD_LEASE_TTL", 15.0)


class Lease:
    """Renews the run's lease from a thread, so a long batch or evaluation never lets it lapse."""

    def __init__(self, store: RunStore, run_id: str, holder: str, ttl: float):
        self.store, self.run_id, self.holder, self.ttl = store, run_id, holder, ttl
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)

    def __enter__(self) -> "Lease":
        self.store.renew_lease(self.run_id, self.holder, self.ttl)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.wait(self.ttl / 3):
            try:
                self.store.renew_lease(self.run_id, self.holder, self.ttl)
            except redis.ConnectionError:
                continue  # Redis restarting: keep trying; the lease only lapses if we stay away

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()
        self.store.release_lease(self.run_id)


class Publisher:
    """The `snn_core` callbacks of one run, writing into the store."""

    def __init__(self, store: RunStore, run_id: str, config: RunConfig, data: DataBundle,
                 device: torch.device, job: rq.job.Job | None, best: dict | None):
        self.store, self.run_id, self.config, self.job = store, run_id, config, job
        self.interval = metric_interval()
        self.best = best
        self.last_sent = 0.0
        self.started = time.monotonic()
        self.batches_this_session = 0
        idx = probe_indices(data.test.labels)
        self.probe_images = data.test.images[idx].float().div(255.0)
        self.probe_labels = data.test.labels[idx]
        self.probe_model = SNN(config).to(device)
        self.cancelled = False
        self.health = HealthWatch(store, run_id, config)  # spike health each epoch, and the stop rule

    def callbacks(self) -> Callbacks:
        return Callbacks(on_batch_end=self.on_batch_end, on_epoch_end=self.on_epoch_end,
                         on_checkpoint=self.on_checkpoint, should_stop=self.should_stop)

    def on_batch_end(self, info: BatchInfo) -> None:
        self.batches_this_session += 1
        now = time.monotonic()
        if now - self.last_sent < self.interval and info.batch != info.batches:
            return
        self.last_sent = now
        step = (info.epoch - 1) * info.batches + info.batch
        self.store.append_metric(self.run_id, "batch", {
            "epoch": info.epoch, "batch": info.batch, "batches": info.batches, "step": step,
            "loss": info.loss, "time": time.time(),
        })
        total = self.config.epochs * info.batches
        rate = self.batches_this_session / max(now - self.started, 1e-9)
        self.publish_progress({
            "epoch": info.epoch, "batch": info.batch, "batches": info.batches,
            "percent": round(100.0 * step / total, 2), "eta_s": round((total - step) / rate, 1),
        })

    def publish_progress(self, progress: dict[str, Any]) -> None:
        self.store.update_progress(self.run_id, progress)
        if self.job is not None:
            self.job.meta["progress"] = progress
            self.job.save_meta()

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        data = metrics.to_dict()
        health = self.health.observe(metrics)
        if health is not None:
            data["health"] = health
        self.store.append_metric(self.run_id, "epoch", data)
        if self.best is None or data["test_acc"] >= self.best["test_acc"]:
            self.best = data
        self.store.set_fields(self.run_id, last_metrics=data, best_metrics=self.best, health=health)

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        # Probes first: a checkpoint in Redis promises that everything up to it is there.
        if state["batch"] == 0 and state["epoch"] > 0:  # an epoch boundary, not a mid-epoch stop
            self.probe_model.load_state_dict(state["model"])
            rec = record(self.probe_model, self.probe_images, self.probe_labels, self.config, seed=state["epoch"])
            self.store.save_probes(self.run_id, state["epoch"],
                                   recording_to_dict(rec, state["epoch"], self.config.encoder.value))
        self.store.save_checkpoint(self.run_id, ckpt_io.to_bytes(state))

    def announce_resume(self, resume: dict[str, Any]) -> None:
        """Publish what a checkpoint we resume from holds, and say where training picks up."""
        self.backfill(resume["history"])
        self.publish_progress({
            "epoch": resume["epoch"] + 1, "batch": resume["batch"], "batches": None,
            "percent": round(100.0 * resume["epoch"] / self.config.epochs, 2), "eta_s": None,
            "resumed_from": {"epoch": resume["epoch"], "batch": resume["batch"]},
        })

    def backfill(self, history: list[dict[str, Any]]) -> None:
        """Publish epochs a checkpoint holds but the stream lacks (the worker died between the two)."""
        published = {e["epoch"] for e in self.store.epoch_history(self.run_id)}
        for entry in history:
            if entry["epoch"] not in published:
                self.on_epoch_end(EpochMetrics(**entry))

    def should_stop(self) -> bool:
        if self.store.cancel_requested(self.run_id):
            self.cancelled = True
        return self.cancelled or self.health.stop_reason is not None or STOP.is_set()


def torch_threads() -> int:
    """$SPIKEBOARD_TORCH_THREADS, 1 by default: the network's ops are small, and several workers
    (or another process) sharing the cores make multi-threaded OpenMP kernels spin and stall."""
    raw = os.environ.get("SPIKEBOARD_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SPIKEBOARD_TORCH_THREADS must be an integer >= 1, got {raw!r}")
    return int(raw)


def _set_threads() -> None:
    torch.set_num_threads(torch_threads())


def train_run(run_id: str) -> dict[str, Any]:
    """Train run `run_id` to its configured epochs (or until cancelled or stopped)."""
    job = rq.get_current_job()
    conn = job.connection if job is not None else connect()
    store = RunStore(conn)
    record = store.get_run(run_id)
    if record is None or record.status in DONE_STATUSES:
        return {"run_id": run_id, "skipped": record.status.value if record else "deleted"}
    if store.cancel_requested(run_id):
        store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
        return {"run_id": run_id, "status": RunStatus.CANCELLED.value}
    _set_threads()

    worker = os.environ.get("RQ_WORKER_ID") or f"pid-{os.getpid()}"
    with Lease(store, run_id, worker, lease_ttl()):
        try:
            return _train(store, run_id, record.run_config(), record.started_at, record.best_metrics, worker, job)
        except Exception as exc:
            store.set_status(run_id, RunStatus.FAILED, finished_at=time.time(), error=f"{type(exc).__name__}: {exc}")
            raise


def _train(store: RunStore, run_id: str, config: RunConfig, started_at: float | None, best: dict | None,
           worker: str, job: rq.job.Job | None) -> dict[str, Any]:
    device = resolve_device(config.device)
    store.set_status(run_id, RunStatus.RUNNING, started_at=started_at or time.time(), worker=worker,
                     device=device_name(device), error=None)
    data = load_data(config.dataset, config.data_dir, device, config.train_limit, config.test_limit)
    publisher = Publisher(store, run_id, config, data, device, job, best)

    resume = _load_resume(store, run_id)
    if resume is not None:
        publisher.announce_resume(resume)
    result = fit(config, publisher.callbacks(), data=data, resume=resume)
    status = _finish(store, run_id, publisher, result.stopped)
    return {"run_id": run_id, "status": status.value, "epochs": len(result.history)}


def _load_resume(store: RunStore, run_id: str) -> dict[str, Any] | None:
    blob = store.load_checkpoint(run_id)
    return ckpt_io.from_bytes(blob) if blob is not None else None


def _finish(store: RunStore, run_id: str, publisher: "Publisher", stopped: bool) -> RunStatus:
    """Write a run's final status after `fit` returned."""
    if publisher.cancelled or store.cancel_requested(run_id):
        status = RunStatus.CANCELLED
    elif stopped and publisher.health.stop_reason is not None:  # its stop rule ended it early: done, not requeued
        store.set_status(run_id, RunStatus.STOPPED, finished_at=time.time(), stop_reason=publisher.health.stop_reason)
        return RunStatus.STOPPED
    elif stopped:
        status = RunStatus.INTERRUPTED  # the worker requeues it once this horse has exited
    else:
        status = RunStatus.FINISHED
    store.set_status(run_id, status, finished_at=None if status is RunStatus.INTERRUPTED else time.time())
    return status


def train_pack(run_ids: list[str]) -> dict[str, Any]:
    """Train a sweep's compatible runs as one packed model (`snn_core.training.fit_packed`).

    Each run still gets its own lease, metrics stream, record, checkpoints and probes, and a
    cancel stops only that member. Checkpoints are in the solo format, so a run of a pack
    whose worker dies is requeued and resumed on its own, like any other run.
    """
    job = rq.get_current_job()
    conn = job.connection if job is not None else connect()
    store = RunStore(conn)
    live = []
    for run_id in run_ids:
        record = store.get_run(run_id)
        if record is None or record.status in DONE_STATUSES:
            continue
        if store.cancel_requested(run_id):
            store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
            continue
        live.append(record)
    if len(live) <= 1:
        return train_run(live[0].id) if live else {"run_ids": run_ids, "skipped": "all done or cancelled"}
    resumes = [_load_resume(store, r.id) for r in live]
    if len({(c["epoch"], c["batch"]) if c else (0, 0) for c in resumes}) > 1 or (None in resumes and any(resumes)):
        for record in live:  # members went separate ways (some resumed alone): finish them one by one
            requeue_run(conn, record.id)
        return {"run_ids": run_ids, "requeued": [r.id for r in live]}
    _set_threads()

    worker = os.environ.get("RQ_WORKER_ID") or f"pid-{os.getpid()}"
    configs = [r.run_config() for r in live]
    with contextlib.ExitStack() as leases:
        for record in live:
            leases.enter_context(Lease(store, record.id, worker, lease_ttl()))
        try:
            device = resolve_device(configs[0].device)
            for record in live:
                store.set_status(record.id, RunStatus.RUNNING, started_at=record.started_at or time.time(),
                                 worker=worker, device=device_name(device), error=None)
            lead = configs[0]
            data = load_data(lead.dataset, lead.data_dir, device, lead.train_limit, lead.test_limit)
            publishers = [Publisher(store, r.id, c, data, device, job if i == 0 else None, r.best_metrics)
                          for i, (r, c) in enumerate(zip(live, configs))]
            if resumes[0] is not None:
                for publisher, resume in zip(publishers, resumes):
                    publisher.announce_resume(resume)
            results = fit_packed(configs, [p.callbacks() for p in publishers], data=data,
                                 resumes=resumes if resumes[0] is not None else None)
        except Exception as exc:
            for record in live:
                store.set_status(record.id, RunStatus.FAILED, finished_at=time.time(),
                                 error=f"{type(exc).__name__}: {exc}")
            raise
        statuses = {r.id: _finish(store, r.id, p, res.stopped).value for r, p, res in zip(live, publishers, results)}
    return {"run_ids": run_ids, "statuses": statuses}
