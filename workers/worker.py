"""The RQ worker that trains runs, and the reaper that rescues runs whose worker died.

`SpikeboardWorker` is RQ's forking `Worker` with these additions:

- Only Spikeboard's own jobs run (`workers.admission`): anything else dequeued is refused
  before RQ imports its function, marked failed with the reason, logged, and recorded in
  the store (`RunStore.refused_jobs`, `python -m workers refused`).
- A horse killed alone (the OOM killer, say) has its run resumed from its checkpoint, up to
  `SPIKEBOARD_MAX_RESUMES` (3) times, then failed with how often and by which signal.
- Redis away: its connection waits however long (`connection.PatientRetry`), and after Redis is
  back the reaper holds off for one lease TTL, so live horses retake their leases first.

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

from .admission import describe, refusal_reason
from .devices import offered_devices
from .connection import QUEUE, last_outage_end, lease_ttl
from .submission import requeue_run
from .warm import remember
from .store import Fence, LeaseLost, RunStatus, RunStore

log = logging.getLogger(__name__)

CLAIM_TTL_S = 30.0  # how long a reaper's claim keeps other reapers off a run it is requeueing
# After Redis comes back, reapers wait a lease TTL plus this (the patient retry's longest pause)
# before requeueing lapsed runs: a live horse retakes its own lease within that time.
OUTAGE_GRACE_S = 3.0
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


def max_resumes() -> int:
    """$SPIKEBOARD_MAX_RESUMES: how often a run whose horse was killed alone is resumed (3)."""
    raw = os.environ.get("SPIKEBOARD_MAX_RESUMES", "3")
    if not raw.isdigit():
        raise ValueError(f"SPIKEBOARD_MAX_RESUMES must be an integer >= 0, got {raw!r}")
    return int(raw)


def reap(conn: redis.Redis, claimer: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Requeue (or mark cancelled) active runs nobody holds a lease on; returns their ids.

    `skip`: runs this worker's own live horse is training (it retakes a lapsed lease itself).
    """
    store = RunStore(conn)
    rescued = []
    for run_id in store.active_run_ids():
        if run_id in skip or store.lease_holder(run_id) is not None:
            continue
        claim = store.claim_lease(run_id, f"reaper:{claimer}", CLAIM_TTL_S)
        if claim is None:
            continue  # another reaper got there first
        record = store.get_run(run_id)
        if record is None or record.status not in (RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.QUEUED):
            store.release_lease(claim)  # it ended between our reads (or its awaited horse found it ended)
            store.forget_active(run_id)
            continue
        try:
            if store.cancel_requested(run_id):
                store.set_status(run_id, RunStatus.CANCELLED, fence=claim, finished_at=time.time())
            else:  # queued: its job's horse died waiting for the lease (`LeaseStore.expect_horse`)
                log.warning("run %s %s", run_id, "was taken by a horse that died before training it; queueing it again"
                            if record.status is RunStatus.QUEUED else
                            f"was {record.status.value} with no live worker; requeueing it to resume")
                requeue_run(conn, run_id, fence=claim)
        except LeaseLost as exc:  # a horse took the run between our claim and the write: it trains it
            log.info("reaper: %s; leaving the run to it", exc)
            continue
        rescued.append(run_id)
    return rescued


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the worker) dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())


def _reap_orphans() -> None:
    """As process 1 (a container started without an init), collect the exited settlers orphaned to us
    (`workers.settler`); called between jobs, when no horse of ours is alive for this to collect."""
    if os.getpid() != 1:
        return
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass  # no children left


def _horse_stop(signum, frame) -> None:
    from .jobs import STOP

    STOP.set()


class SpikeboardWorker(Worker):
    def __init__(self, queues=(QUEUE,), *, connection: redis.Redis, reap_every: float | None = None, **kwargs):
        self.reap_every = reap_every if reap_every is not None else reap_interval()
        self.max_resumes, self.lease_ttl = max_resumes(), lease_ttl()  # a bad setting stops the worker at start
        kwargs.setdefault("job_monitoring_interval", max(1, int(self.reap_every)))
        super().__init__(list(queues), connection=connection, serializer=JSONSerializer, **kwargs)
        self._last_reaped = 0.0
        self._graceful_since: float | None = None
        self._horse_status: int | None = None
        self._horse_runs: frozenset[str] = frozenset()
        self._datasets_kept: set[tuple[str, str]] = set()
        self.devices = offered_devices()  # published at every reap, with a TTL (RunStore.offer_devices)

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

    # -- admission -------------------------------------------------------------------

    def execute_job(self, job, queue) -> None:
        reason = refusal_reason(job)
        if reason is not None:
            self._refuse(job, queue, reason)
            return
        run_ids = job.args[0] if job.func_name.endswith(".train_pack") else [job.args[0]]
        self._horse_status, self._horse_runs = None, frozenset(run_ids)
        try:
            super().execute_job(job, queue)
        finally:
            self._horse_runs = frozenset()
        for run_id in run_ids:
            self._settle(run_id)
        self._remember_data(run_ids)
        _reap_orphans()

    def _remember_data(self, run_ids: list[str]) -> None:
        """Keep the dataset the job trained on parsed in this process, for the next horses (`warm`)."""
        try:
            record = RunStore(self.connection).get_run(run_ids[0]) if run_ids else None
        except (ValueError, redis.RedisError) as exc:  # a record another writer broke: the horse said so
            self.log.info("Worker %s: no dataset kept after the job (%s)", self.name, exc)
            return
        if record is None:
            return
        key = (str(record.config.get("dataset", "")), str(record.config.get("data_dir", "")))
        if key not in self._datasets_kept:
            self._datasets_kept.add(key)
            remember(*key)

    def perform_job(self, job, queue) -> bool:
        reason = refusal_reason(job)  # again in the horse, should anything reach it another way
        if reason is not None:
            self.log.error("Worker %s: horse refusing job %s: %s", self.name, job.id, reason)
            os._exit(3)
        return super().perform_job(job, queue)

    def _refuse(self, job, queue, reason: str) -> None:
        """Fail `job` without running it (RQ's own bookkeeping for a failed job), log and record it."""
        self.log.error("Worker %s: REFUSED job %s: %s; it was not run", self.name, job.id, reason)
        job.webhooks = []  # a refused job calls nobody either
        RunStore(self.connection).record_refused_job(
            {**describe(job), "reason": reason, "worker": self.name, "at": time.time()})
        self.prepare_execution(job)
        self.prepare_job_execution(job, remove_from_intermediate_queue=True)  # LREM of nothing is harmless
        self.handle_job_failure(job, queue, exc_string=f"refused by Spikeboard worker {self.name}: {reason}")
        self.set_state("idle")

    # -- after the horse ------------------------------------------------------------------

    def wait_for_horse(self):
        pid, status, rusage = super().wait_for_horse()
        if pid:
            self._horse_status = status
        return pid, status, rusage

    def _horse_death(self) -> str:
        status = self._horse_status
        if status is not None and os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            return f"signal {number} ({signal.Signals(number).name})"
        if status is not None and os.WIFEXITED(status):
            return f"exit status {os.WEXITSTATUS(status)}"
        return "an unknown cause"

    def _settle(self, run_id: str) -> None:
        """After the horse exits: requeue an interrupted run; close or resume one the horse could not.

        Only while this worker's horse was the last to hold the run's lease: a run that another
        worker took over (this horse lost its lease while Redis was away) is left to it.
        """
        store = RunStore(self.connection)
        if self._settler_holds(store, run_id):
            return
        claim = store.take_over_lease(run_id, self.name, CLAIM_TTL_S)
        if claim is None:
            return
        record = store.get_run(run_id)
        if record is None:
            store.release_lease(claim)
            return
        if record.status is RunStatus.RUNNING:  # the horse was killed before writing its end
            if store.cancel_requested(run_id):
                store.set_status(run_id, RunStatus.CANCELLED, fence=claim, finished_at=time.time())
            elif self._stop_requested:
                store.set_status(run_id, RunStatus.INTERRUPTED, fence=claim)
            elif self._resume_after_death(store, run_id, claim):
                return
            record = store.get_run(run_id)
        if record.status is RunStatus.INTERRUPTED:
            requeue_run(self.connection, run_id, fence=claim)
            self.log.info("Worker %s: run %s checkpointed and requeued", self.name, run_id)
        else:
            store.release_lease(claim)

    def _settler_holds(self, store: RunStore, run_id: str) -> bool:
        """The horse exited cleanly and its lease on the run is still held: by the settler it forked
        (`workers.settler`), which releases it once the run's last writes are durable. Taking it over
        would fence the settler out of writing again what a Redis crash meanwhile lost."""
        status = self._horse_status
        clean = status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        return clean and store.lease_holder(run_id) == self.name

    def _resume_after_death(self, store: RunStore, run_id: str, claim: Fence) -> bool:
        """The horse died alone: requeue the run to resume from its checkpoint, or fail it past the limit."""
        deaths, limit, cause = store.count_horse_death(run_id, claim), self.max_resumes, self._horse_death()
        if deaths <= limit:
            self.log.warning("Worker %s: the horse training run %s died (%s); resuming it from its checkpoint "
                             "(%d of %d resumes)", self.name, run_id, cause, deaths, limit)
            requeue_run(self.connection, run_id, fence=claim)
            return True
        self.log.error("Worker %s: run %s failed: its horse died %d times", self.name, run_id, deaths)
        store.set_status(run_id, RunStatus.FAILED, fence=claim, finished_at=time.time(),
                         error=f"the work horse was killed {deaths} times (last by {cause}; out of memory?); "
                               f"resumed {limit} times from its checkpoint (SPIKEBOARD_MAX_RESUMES={limit})")
        return False

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
            RunStore(self.connection).offer_devices(self.name, self.devices, ttl=3 * self.reap_every + 5)
        except redis.ConnectionError:
            pass  # Redis is away: the offer lapses, and the next reap renews it
        if time.monotonic() - last_outage_end() < self.lease_ttl + OUTAGE_GRACE_S:
            return  # Redis was away just now: let live horses retake their lapsed leases first
        try:
            reap(self.connection, self.name, skip=self._horse_runs)
        except redis.ConnectionError as exc:
            self.log.warning("Worker %s: reaper could not reach Redis (%s); will retry", self.name, exc)
