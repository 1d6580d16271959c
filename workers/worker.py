"""The RQ worker that trains runs, and the reaper that rescues runs whose worker died.

`SpikeboardWorker` is RQ's forking `Worker` with three additions:

- SIGTERM/SIGINT (warm shutdown) is passed on to the work horse, which finishes its batch,
  checkpoints and marks the run `interrupted`; once the horse exits the worker requeues the
  run (in front) and quits. RQ alone would wait for the whole run to end.
- The horse dies with its worker (PR_SET_PDEATHSIG on Linux): a worker killed with -9 does
  not leave a horse training unsupervised.
- Every `SPIKEBOARD_REAP_INTERVAL` seconds (5 by default), idle or busy, it reaps: a run
  marked running or interrupted whose lease (renewed by its horse) has lapsed is requeued,
  and resumes from its checkpoint on whichever worker takes it. RQ's own abandoned-job
  cleanup only notices after the job's heartbeat TTL plus its maintenance interval (minutes)
  and then fails the job instead of resuming it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time

import redis
from rq import Worker
from rq.serializers import JSONSerializer

from .service import PACK_JOB_PREFIX, QUEUE, requeue_run
from .store import RunStatus, RunStore

log = logging.getLogger(__name__)

CLAIM_TTL_S = 30.0  # how long a reaper's claim keeps other reapers off a run it is requeueing
_PR_SET_PDEATHSIG = 1


def reap_interval() -> float:
    raw = os.environ.get("SPIKEBOARD_REAP_INTERVAL", "")
    try:
        value = float(raw) if raw else 5.0
    except ValueError:
        raise ValueError(f"SPIKEBOARD_REAP_INTERVAL must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"SPIKEBOARD_REAP_INTERVAL must be > 0, got {raw!r}")
    return value


def reap(conn: redis.Redis, claimer: str) -> list[str]:
    """Requeue (or mark cancelled) active runs nobody holds a lease on; returns their ids."""
    store = RunStore(conn)
    rescued = []
    for run_id in store.active_run_ids():
        if store.lease_holder(run_id) is not None:
            continue
        if not store.claim_lease(run_id, f"reaper:{claimer}", CLAIM_TTL_S):
            continue  # another reaper got there first
        record = store.get_run(run_id)
        if record is None or record.status not in (RunStatus.RUNNING, RunStatus.INTERRUPTED):
            store.release_lease(run_id)  # it ended between our reads
            continue
        if store.cancel_requested(run_id):
            store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
        else:
            log.warning("run %s was %s with no live worker; requeueing it to resume", run_id, record.status.value)
            requeue_run(conn, run_id)
        rescued.append(run_id)
    return rescued


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the worker) dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())


def _horse_stop(signum, frame) -> None:
    from .jobs import STOP

    STOP.set()


class SpikeboardWorker(Worker):
    def __init__(self, queues=(QUEUE,), *, connection: redis.Redis, reap_every: float | None = None, **kwargs):
        self.reap_every = reap_every if reap_every is not None else reap_interval()
        kwargs.setdefault("job_monitoring_interval", max(1, int(self.reap_every)))
        super().__init__(list(queues), connection=connection, serializer=JSONSerializer, **kwargs)
        self._last_reaped = 0.0
        self._graceful_since: float | None = None

    # -- shutdown ------------------------------------------------------------------

    def setup_work_horse_signals(self) -> None:
        super().setup_work_horse_signals()
        signal.signal(signal.SIGTERM, _horse_stop)
        _die_with_parent()

    def request_stop(self, signum, frame) -> None:
        if self.horse_pid:
            self._graceful_since = time.monotonic()
            self.log.info("Worker %s: asking the run in progress to checkpoint and stop", self.name)
            try:
                os.kill(self.horse_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass  # the horse ended on its own just now
        super().request_stop(signum, frame)

    def request_force_stop(self, signum, frame) -> None:
        # Process runners send SIGINT then SIGTERM: give the horse a moment to checkpoint first.
        if self._graceful_since is not None and time.monotonic() - self._graceful_since < 10:
            self.log.info("Worker %s: still waiting for the run to checkpoint; signal again to kill it", self.name)
            self._graceful_since = None
            return
        super().request_force_stop(signum, frame)

    def execute_job(self, job, queue) -> None:
        super().execute_job(job, queue)
        run_ids = job.args[0] if job.id.startswith(PACK_JOB_PREFIX) and job.args else [job.id]
        for run_id in run_ids:
            self._settle(run_id)

    def _settle(self, run_id: str) -> None:
        """After the horse exits: requeue an interrupted run; close one the horse could not."""
        store = RunStore(self.connection)
        record = store.get_run(run_id)
        if record is None:
            return
        if store.lease_holder(run_id) == self.name:
            store.release_lease(run_id)  # the horse is gone; its lease would only delay the requeue
        if record.status is RunStatus.RUNNING:  # the horse was killed before writing its end
            if store.cancel_requested(run_id):
                store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
            elif self._stop_requested:
                store.set_status(run_id, RunStatus.INTERRUPTED)
            else:
                store.set_status(run_id, RunStatus.FAILED, finished_at=time.time(),
                                 error="the work horse died before the run ended (killed, or out of memory?)")
            record = store.get_run(run_id)
        if record.status is RunStatus.INTERRUPTED and store.claim_lease(run_id, f"worker:{self.name}", CLAIM_TTL_S):
            requeue_run(self.connection, run_id)
            self.log.info("Worker %s: run %s checkpointed and requeued", self.name, run_id)

    # -- reaping, idle or busy -------------------------------------------------------

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(super().dequeue_timeout, int(self.reap_every)))

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return self._reap_due() or super().should_run_maintenance_tasks

    def run_maintenance_tasks(self) -> None:
        self._reap_if_due()
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()

    def maintain_heartbeats(self, job) -> None:
        super().maintain_heartbeats(job)
        self._reap_if_due()

    def _reap_due(self) -> bool:
        return time.monotonic() - self._last_reaped >= self.reap_every

    def _reap_if_due(self) -> None:
        if not self._reap_due():
            return
        self._last_reaped = time.monotonic()
        try:
            reap(self.connection, self.name)
        except redis.ConnectionError as exc:
            self.log.warning("Worker %s: reaper could not reach Redis (%s); will retry", self.name, exc)
