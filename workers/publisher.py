"""What a training job writes while it trains: the `snn_core` callbacks of one run (`Publisher`), under
its lease, and the cancel flags of a job's runs (`CancelWatch`). `jobs` runs them in a work horse.

Per run: every batch's loss (one stream entry per `SPIKEBOARD_METRIC_INTERVAL`, 0.25 s by default,
with the progress in the same write), one metrics entry per epoch with its spike health, the
checkpoint and the probe digits' recording at every epoch end, and `should_stop` after every batch
(cancel flag, lost lease, stop rule, the horse's SIGTERM).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import rq
import torch

from snn_core import checkpoint as ckpt_io
from snn_core.config import RunConfig
from snn_core.data import DataBundle
from snn_core.model import SNN
from snn_core.recording import probe_indices, record, recording_to_dict
from snn_core.training import BatchInfo, Callbacks, EpochMetrics

from . import estimates
from .connection import env_seconds
from .fencing import Lease
from .health_watch import HealthWatch, compact
from .replay import Journal
from .store import LeaseLost, RunStore

log = logging.getLogger(__name__)

# Set by SIGTERM in the work horse: finish the batch, checkpoint, hand the run back.
STOP = threading.Event()

CANCEL_CHECK_S = 0.05  # how stale a run's view of its cancel flag may be


def eta_shown(seconds: float) -> float:
    """An ETA to publish while work is left: tenths of a second, never 0 (a test pass of 40 ms
    rounded to "ETA 0s" reads as done)."""
    return max(0.1, round(seconds, 1))


def metric_interval() -> float:
    return env_seconds("SPIKEBOARD_METRIC_INTERVAL", 0.25)


class CancelWatch:
    """The cancel flags of a job's runs, read all at once at most every CANCEL_CHECK_S.

    Training asks after every batch of every member. Asking Redis each time cost a pack of 14 short
    runs ~45 % of its time (13,000 round trips an epoch), and one round trip per member every 50 ms
    still cost a pack of 33 over a tenth of its time (profiled), so a pack shares one watch.
    """

    def __init__(self, store: RunStore, run_ids: list[str]):
        self.store, self.run_ids = store, list(run_ids)
        self.flags: dict[str, bool] = {}
        self.last = float("-inf")

    def requested(self, run_id: str) -> bool:
        now = time.monotonic()
        if now - self.last >= CANCEL_CHECK_S:
            self.last = now
            self.flags = dict(zip(self.run_ids, self.store.cancels_requested(self.run_ids)))
        return self.flags.get(run_id, False)


class Publisher:
    """The `snn_core` callbacks of one run, writing into the store under the run's lease.

    Once a write finds the lease lost (`LeaseLost`), or the lease thread says so, the publisher
    writes nothing more and `should_stop` ends this run's training at its next batch.
    """

    def __init__(self, store: RunStore, run_id: str, config: RunConfig, data: DataBundle,
                 device: torch.device, job: rq.job.Job | None, best: dict | None, lease: Lease,
                 cancels: "CancelWatch | None" = None, hold_at: int = 0):
        self.run_id, self.config, self.job = run_id, config, job
        self.hold_at = hold_at if 0 < hold_at < config.epochs else 0  # a search's rung (RunRecord.hold_at)
        self.held = False
        self.lease, self.fence = lease, lease.fence
        self.journal = Journal(store, run_id, lease.fence)  # what a Redis crash loses is written again
        self.store = self.journal.store
        self.interval = metric_interval()
        self.best = best
        self.last_sent = 0.0
        self.started = time.monotonic()
        self.batches_this_session = 0
        self.pending: list[tuple[BatchInfo, float]] = []  # batch points not yet published
        self.batches_per_epoch, self.batch_rate = 0, 0.0  # from the batches seen, for the ETA
        idx = probe_indices(data.test.labels)
        self.probe_images = data.test.images[idx].float().div(255.0)
        self.probe_labels = data.test.labels[idx]
        self.probe_model = SNN(config).to(device)
        self.n_test = len(data.test)
        self.eval_started: float | None = None
        self.eval_s: float | None = None  # the last test pass's seconds
        self.eval_total = 0.0  # seconds of this session's test passes (not training: left out of its rate)
        self.cancelled = False
        self.cancels = cancels or CancelWatch(store, [run_id])
        self.health = HealthWatch(store, run_id, config)  # spike health each epoch, and the stop rule
        self.lost = False

    def callbacks(self) -> Callbacks:
        return Callbacks(on_batch_end=self.on_batch_end, on_epoch_end=self.on_epoch_end,
                         on_checkpoint=self.on_checkpoint, should_stop=self.should_stop,
                         on_eval_start=self.on_eval_start)

    def _write(self, write) -> None:
        """Call `write()` unless the lease is lost; mark it lost when the write finds so."""
        if self.lost or self.lease.lost.is_set():
            self.lost = True
            return
        try:
            write()
        except LeaseLost as exc:
            log.warning("%s; this horse stops without writing", exc)
            self.lost = True

    def on_batch_end(self, info: BatchInfo) -> None:
        # Every batch's loss is published, in one write per interval: the chart has all the
        # points, and Redis sees a few writes a second however fast the batches are.
        self.batches_this_session += 1
        self.batches_per_epoch = info.batches
        self.pending.append((info, time.time()))
        now = time.monotonic()
        if now - self.last_sent < self.interval and info.batch != info.batches:
            return
        self.last_sent = now
        step = (info.epoch - 1) * info.batches + info.batch
        total = self.config.epochs * info.batches
        rate = self.batches_this_session / max(now - self.started - self.eval_total, 1e-9)
        self.batch_rate = rate
        points, self.pending = self.pending, []
        evals_left = self.config.epochs - info.epoch + 1  # this epoch's test pass is still to come
        eta = (total - step) / rate + evals_left * self.eval_guess()
        progress = {"epoch": info.epoch, "batch": info.batch, "batches": info.batches,
                    "percent": round(100.0 * step / total, 2), "eta_s": eta_shown(eta)}

        def write():  # the points and the progress in one round trip
            self.store.append_metrics(self.run_id, "batch", [{
                "epoch": p.epoch, "batch": p.batch, "batches": p.batches, "step": (p.epoch - 1) * p.batches + p.batch,
                "loss": p.loss, "time": at,
            } for p, at in points], fence=self.fence, progress=progress)
            self._job_progress(progress)
        self._write(write)

    def eval_guess(self) -> float:
        """Seconds of one test pass: the last one measured, else the estimate model's ratio of a test
        sample to a training one (`workers.estimates`) times this run's measured training speed."""
        if self.eval_s is not None:
            return self.eval_s
        if not self.batch_rate:
            return 0.0
        train_sample_s = 1.0 / (self.batch_rate * self.config.batch_size)
        ratio = (estimates.eval_units_per_sample(self.config) * estimates.FALLBACK_S_PER_EVAL_UNIT
                 / (estimates.units_per_sample(self.config) * estimates.FALLBACK_S_PER_UNIT[self.config.encoder.value]))
        return self.n_test * train_sample_s * ratio

    def on_eval_start(self, epoch: int) -> None:
        """Say the run is evaluating (the bar would otherwise sit at its last batch, "ETA 0s")."""
        self.eval_started = time.monotonic()
        left = self.config.epochs - epoch
        train_left = left * self.batches_per_epoch / self.batch_rate if self.batch_rate else 0.0
        progress = {"epoch": epoch, "batch": self.batches_per_epoch, "batches": self.batches_per_epoch,
                    "percent": round(100.0 * epoch / self.config.epochs, 2), "phase": "evaluating",
                    "eta_s": eta_shown(train_left + (left + 1) * self.eval_guess())}
        self._write(lambda: self.publish_progress(progress))

    def publish_progress(self, progress: dict[str, Any]) -> None:
        self.store.update_progress(self.run_id, progress, fence=self.fence)
        self._job_progress(progress)

    def _job_progress(self, progress: dict[str, Any]) -> None:
        if self.job is not None:
            self.job.meta["progress"] = progress
            self.job.save_meta()

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self.eval_started is not None:
            self.eval_s = time.monotonic() - self.eval_started
            self.eval_total += self.eval_s
            self.eval_started = None
        data = metrics.to_dict()
        health = self.health.observe(metrics)
        if health is not None:
            data["health"] = health

        def write():
            self.store.append_metric(self.run_id, "epoch", data, fence=self.fence)
            brief = compact(data)  # the stream keeps the per-step and per-neuron lists
            if self.best is None or data["test_acc"] >= self.best["test_acc"]:
                self.best = brief
            self.store.set_fields(self.run_id, fence=self.fence, last_metrics=brief, best_metrics=self.best,
                                  health=health)
        self._write(write)
        if self.hold_at and metrics.epoch >= self.hold_at:
            self.held = True  # `fit` asks should_stop next, and checkpoints at this epoch's end

    def on_checkpoint(self, state: dict[str, Any]) -> None:
        def write():
            # Probes first: a checkpoint in Redis promises that everything up to it is there.
            if state["batch"] == 0 and state["epoch"] > 0:  # an epoch boundary, not a mid-epoch stop
                self.probe_model.load_state_dict(state["model"])
                rec = record(self.probe_model, self.probe_images, self.probe_labels, self.config,
                             seed=state["epoch"])
                self.store.save_probes(self.run_id, state["epoch"],
                                       recording_to_dict(rec, state["epoch"], self.config.encoder.value),
                                       fence=self.fence)
            self.store.save_checkpoint(self.run_id, ckpt_io.to_bytes(state), fence=self.fence)
        self._write(write)

    def announce_resume(self, resume: dict[str, Any]) -> None:
        """Publish what a checkpoint we resume from holds, and say where training picks up."""
        self.backfill(resume["history"])
        self._write(lambda: self.publish_progress({
            "epoch": resume["epoch"] + 1, "batch": resume["batch"], "batches": None,
            "percent": round(100.0 * resume["epoch"] / self.config.epochs, 2), "eta_s": None,
            "resumed_from": {"epoch": resume["epoch"], "batch": resume["batch"]},
        }))

    def backfill(self, history: list[dict[str, Any]]) -> None:
        """Publish epochs a checkpoint holds but the stream lacks (the worker died between the two)."""
        published = {e["epoch"] for e in self.store.epoch_history(self.run_id)}
        for entry in history:
            if entry["epoch"] not in published:
                self.on_epoch_end(EpochMetrics(**entry))

    def restore_epochs(self, history: list[EpochMetrics]) -> int:
        """Publish the epochs of a finished `history` the stream lacks, and make the record's last
        metrics the last epoch's again; the number published."""
        published = {e["epoch"] for e in self.store.epoch_history(self.run_id)}
        missing = [m for m in history if m.epoch not in published]
        for metrics in missing:
            self.on_epoch_end(metrics)
        if missing:
            last = compact(self.store.epoch_history(self.run_id)[-1])
            self._write(lambda: self.store.set_fields(self.run_id, fence=self.fence, last_metrics=last))
        return len(missing)

    def should_stop(self) -> bool:
        if not self.cancelled:
            self.cancelled = self.cancels.requested(self.run_id)
        if self.lease.lost.is_set():
            self.lost = True
        return (self.cancelled or self.lost or self.held or self.health.stop_reason is not None
                or STOP.is_set())
