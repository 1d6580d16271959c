"""The RQ job: train one run through `snn_core`, with everything the UI shows written to Redis.

`train_run(run_id)` runs inside a work horse (see `workers.worker`). It

- holds a lease on the run (a key with a short TTL, renewed by a thread) so that, if this
  process dies, a live worker's reaper sees the run orphaned and requeues it. Every write it
  makes carries the lease's fence token and Redis checks it first: a horse that lost its lease
  (Redis away longer than the TTL, the run requeued meanwhile) writes nothing more and stops
  at its next batch, leaving the run to its new holder;
- publishes every batch's loss (written together once per `SPIKEBOARD_METRIC_INTERVAL` seconds,
  0.25 by default, and at each epoch's end) and one entry per epoch into the run's metrics
  stream, and progress (epoch, batch, percent, ETA) into the record and `job.meta`;
- writes the checkpoint into Redis at every epoch end (and when stopped mid-epoch), and the
  probe digits' spike recording at every epoch end;
- checks the cancel flag and this process's stop request after every batch;
- resumes from the stored checkpoint when there is one (a requeued or retried run).

`train_pack(run_ids)` does the same for a sweep's compatible runs trained as one packed model. What a
run writes as it trains is `workers.publisher`'s (`Publisher`, `CancelWatch`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any

import rq
import torch

from snn_core import checkpoint as ckpt_io
from snn_core.config import RunConfig
from snn_core.data import load_data, worker_data_dir
from snn_core.limits import check_fits
from snn_core.training import device_name, fit, fit_packed, resolve_device

from .admission import check_run_id
from .publisher import STOP, CancelWatch, Publisher, metric_interval
from .connection import connect, lease_ttl
from .fencing import Lease, LeaseHeld
from . import settler
from .replay import durable_window
from .store import DONE_STATUSES, Fence, LeaseLost, RunStatus, RunStore
from .submission import requeue_run

log = logging.getLogger(__name__)

__all__ = ["train_run", "train_pack", "Publisher", "metric_interval", "STOP"]


def torch_threads() -> int:
    """$SPIKEBOARD_TORCH_THREADS, 1 by default: the network's ops are small, and several workers
    (or another process) sharing the cores make multi-threaded OpenMP kernels spin and stall."""
    raw = os.environ.get("SPIKEBOARD_TORCH_THREADS", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SPIKEBOARD_TORCH_THREADS must be an integer >= 1, got {raw!r}")
    return int(raw)


_SETTLE_ROUNDS = 3  # durable windows one settle waits at most (`workers.replay.settle_all`)


def _set_threads() -> None:
    torch.set_num_threads(torch_threads())


def _horse_name() -> str:
    return os.environ.get("RQ_WORKER_ID") or f"pid-{os.getpid()}"


def _lease(store: RunStore, run_id: str, worker: str) -> Lease:
    """The run's lease, for this horse. A horse that wrote the run's end (held at its rung, finished)
    keeps the lease while it settles (`_settle`, up to a few durable windows); a job for the run
    queued meanwhile (a search promoting a held run at once) waits for it to let go rather than
    being dropped with the run left queued and no job. A holder still training (RUNNING) is refused."""
    expected = []

    def settling() -> bool:
        record = store.get_run(run_id)
        waiting = record is not None and record.status is not RunStatus.RUNNING
        if waiting and not expected:  # should this horse die waiting, the reapers queue the run again
            store.expect_horse(run_id)
            expected.append(run_id)
        return waiting
    return Lease(store, run_id, worker, lease_ttl(), settling=settling,
                 patience=2 * _SETTLE_ROUNDS * durable_window() + lease_ttl())  # two settles at most


def train_run(run_id: str) -> dict[str, Any]:
    """Train run `run_id` to its configured epochs (or until cancelled or stopped)."""
    check_run_id(run_id)
    job = rq.get_current_job()
    conn = job.connection if job is not None else connect(patient=True)
    store = RunStore(conn)
    record = store.get_run(run_id)
    if record is None or record.status in DONE_STATUSES:
        return {"run_id": run_id, "skipped": record.status.value if record else "deleted"}
    if store.cancel_requested(run_id):
        store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
        return {"run_id": run_id, "status": RunStatus.CANCELLED.value}
    _set_threads()

    worker = _horse_name()
    try:
        with _lease(store, run_id, worker) as lease:
            record = store.get_run(run_id)  # as it is now that we hold the lease
            if record is None or record.status in DONE_STATUSES:
                return {"run_id": run_id, "skipped": record.status.value if record else "deleted"}
            try:
                return _train(store, run_id, record.run_config(), record.started_at, record.best_metrics, worker,
                              job, lease, record.hold_at)
            except LeaseLost as exc:
                log.warning("%s; this horse stops without writing", exc)
                return {"run_id": run_id, "status": "lease lost"}
            except Exception as exc:
                _fail(store, lease.fence, run_id, exc)
                raise
    except LeaseHeld as exc:
        log.warning("%s; not training it twice", exc)
        return {"run_id": run_id, "skipped": str(exc)}


def _fail(store: RunStore, fence: Fence | None, run_id: str, exc: Exception) -> None:
    """Mark a run failed by `exc`, unless its lease has gone to another horse meanwhile."""
    try:
        store.set_status(run_id, RunStatus.FAILED, fence=fence, finished_at=time.time(),
                         error=f"{type(exc).__name__}: {exc}")
    except LeaseLost:
        log.warning("run %s: %s, but its lease has moved on; leaving it to its holder", run_id, exc)


def _held_already(publisher: Publisher, resume: dict[str, Any] | None) -> bool:
    """A run resumed at the epoch boundary of its hold (its horse died between the checkpoint and the
    held status): `fit` would go on past it, so it is held here without training."""
    if resume is None or not publisher.hold_at or resume["batch"] != 0 or resume["epoch"] < publisher.hold_at:
        return False
    publisher.held = True
    return True


def _train(store: RunStore, run_id: str, config: RunConfig, started_at: float | None, best: dict | None,
           worker: str, job: rq.job.Job | None, lease: Lease, hold_at: int = 0) -> dict[str, Any]:
    device = resolve_device(config.device)
    store.set_status(run_id, RunStatus.RUNNING, fence=lease.fence, started_at=started_at or time.time(),
                     worker=worker, device=device_name(device), error=None)
    check_fits(config, device)  # H2: a clear failure reason, not an allocation crash
    data = load_data(config.dataset, worker_data_dir(config.data_dir), device, config.train_limit, config.test_limit)
    publisher = Publisher(store, run_id, config, data, device, job, best, lease, hold_at=hold_at)

    resume = _load_resume(store, run_id)
    if resume is not None:
        publisher.announce_resume(resume)
    if _held_already(publisher, resume):
        return {"run_id": run_id, "status": _finish(store, run_id, publisher, True), "epochs": resume["epoch"]}
    result = fit(config, publisher.callbacks(), data=data, resume=resume)
    status = _finish(store, run_id, publisher, result.stopped)
    _settle([publisher], [result.history], [status])
    return {"run_id": run_id, "status": status, "epochs": len(result.history)}


def _load_resume(store: RunStore, run_id: str) -> dict[str, Any] | None:
    blob = store.load_checkpoint(run_id)
    return ckpt_io.from_bytes(blob) if blob is not None else None


def _finish(store: RunStore, run_id: str, publisher: "Publisher", stopped: bool) -> str:
    """Write a run's final status after `fit` returned ("lease lost" if it is no longer ours to write)."""
    if publisher.lost:
        return "lease lost"
    if publisher.cancelled or store.cancel_requested(run_id):
        status = RunStatus.CANCELLED
    elif stopped and publisher.health.stop_reason is not None:
        status = RunStatus.STOPPED  # its stop rule ended it early: done, not requeued
    elif stopped and publisher.held and not STOP.is_set():
        status = RunStatus.HELD  # at its search rung: checkpointed; the search driver promotes it or not
    elif stopped:
        status = RunStatus.INTERRUPTED  # the worker requeues it once this horse has exited
    else:
        status = RunStatus.FINISHED
    try:
        publisher.store.set_status(run_id, status, fence=publisher.fence, stop_reason=publisher.health.stop_reason,
                         finished_at=None if status is RunStatus.INTERRUPTED else time.time())
    except LeaseLost as exc:
        log.warning("%s; its end is left to its holder", exc)
        return "lease lost"
    return status.value


def _settle(publishers: list[Publisher], histories: list[list], statuses: list[str]) -> None:
    """Make the runs' last writes durable (`workers.settler`): in a settler process of its own when every
    run wrote its end, so the worker goes on to its next job; here when one was interrupted (its worker
    requeues it once this horse has exited, and must find it settled)."""
    live = [(p, h) for p, h in zip(publishers, histories) if not p.lost]
    settler.settle(live, _SETTLE_ROUNDS, detach=RunStatus.INTERRUPTED.value not in statuses)


def train_pack(run_ids: list[str]) -> dict[str, Any]:
    """Train a sweep's compatible runs as one packed model (`snn_core.training.fit_packed`).

    Each run still gets its own lease, metrics stream, record, checkpoints and probes, and a
    cancel (or a lost lease) stops only that member. Checkpoints are in the solo format, so a
    run of a pack whose worker dies is requeued and resumed on its own, like any other run.
    """
    for run_id in run_ids:
        check_run_id(run_id)
    job = rq.get_current_job()
    conn = job.connection if job is not None else connect(patient=True)
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
    at_hold = any(r.hold_at and c and c["batch"] == 0 and c["epoch"] >= r.hold_at for r, c in zip(live, resumes))
    if len({(c["epoch"], c["batch"]) if c else (0, 0) for c in resumes}) > 1 or (None in resumes and any(resumes)) \
            or at_hold:
        for record in live:  # members went separate ways (some resumed alone, or one is at its hold): one by one
            requeue_run(conn, record.id)
        return {"run_ids": run_ids, "requeued": [r.id for r in live]}
    _set_threads()

    worker = _horse_name()
    with contextlib.ExitStack() as stack:
        leases = []
        for record in live:
            try:
                leases.append(stack.enter_context(_lease(store, record.id, worker)))
            except LeaseHeld as exc:
                log.warning("%s; the pack trains without it", exc)
                leases.append(None)
        members = [(r, lease) for r, lease in zip(live, leases) if lease is not None]
        if not members:
            return {"run_ids": run_ids, "skipped": "all held by other horses"}
        configs = [r.run_config() for r, _ in members]
        if len(members) == 1:
            record, lease = members[0]
            try:
                return _train(store, record.id, configs[0], record.started_at, record.best_metrics, worker, job,
                              lease, record.hold_at)
            except LeaseLost:
                return {"run_ids": run_ids, "status": "lease lost"}
            except Exception as exc:
                _fail(store, lease.fence, record.id, exc)
                raise
        resumes = [_load_resume(store, r.id) for r, _ in members]
        publishers = []
        try:
            device = resolve_device(configs[0].device)
            for record, lease in members:
                store.set_status(record.id, RunStatus.RUNNING, fence=lease.fence,
                                 started_at=record.started_at or time.time(),
                                 worker=worker, device=device_name(device), error=None)
            lead = configs[0]
            check_fits(lead, device, members=len(configs))
            data = load_data(lead.dataset, worker_data_dir(lead.data_dir), device, lead.train_limit, lead.test_limit)
            cancels = CancelWatch(store, [r.id for r, _ in members])
            publishers = [Publisher(store, r.id, c, data, device, job if i == 0 else None, r.best_metrics, lease,
                                    cancels, hold_at=r.hold_at) for i, ((r, lease), c) in enumerate(zip(members, configs))]
            if resumes[0] is not None:
                for publisher, resume in zip(publishers, resumes):
                    publisher.announce_resume(resume)
            results = fit_packed(configs, [p.callbacks() for p in publishers], data=data,
                                 resumes=resumes if resumes[0] is not None else None)
        except Exception as exc:
            for record, lease in members:
                if not isinstance(exc, LeaseLost):
                    _fail(store, lease.fence, record.id, exc)
            if isinstance(exc, LeaseLost):
                return {"run_ids": run_ids, "status": "lease lost"}
            raise
        statuses = {r.id: _finish(store, r.id, p, res.stopped) for (r, _), p, res in zip(members, publishers, results)}
        _settle(publishers, [res.history for res in results], list(statuses.values()))
    return {"run_ids": run_ids, "statuses": statuses}
