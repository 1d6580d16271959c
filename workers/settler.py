"""A job's settle, off its worker's critical path: the horse forks a settler and exits.

After a run's last write, `workers.replay.settle_all` waits out the durable window (`SPIKEBOARD_DURABLE_S`,
3 s) and writes again whatever a Redis crash meanwhile lost. A horse that waited itself kept its worker
from the next job all that time: a search's one-epoch rung jobs (about a second of training on
Fashion-MNIST at T = 5) spent three times as long settling as training, and a run promoted at its rung
waited for the lease as long.

So once every run of a job has written its end (finished, held at its rung, stopped, cancelled), the
horse stops renewing their leases, forks a settler and exits. The settler, in a session of its own,
renews the leases from its own thread, settles, and releases them; the worker takes its next job
meanwhile, and a job for a promoted run waits for the settler's lease as it waited for the horse's
(`workers.jobs._lease`). The worker leaves a run alone while its horse's lease is still held after a
clean exit (`SpikeboardWorker._settler_holds`): that is its settler.

Settled in the horse as before: where waiting cannot help (`replay.waiting_helps`: no wait at all),
an interrupted run (the worker requeues it once its horse has exited), or where there is no `fork`.
A settler still running after `deadline()` (Redis away that long) exits: what a crash took from that
run is then restored as when a horse dies, from its checkpoint (`Publisher.backfill`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Sequence

from .replay import durable_window, settle_all, waiting_helps
from .connection import lease_ttl
from .store import LeaseLost

log = logging.getLogger(__name__)

__all__ = ["settle", "deadline"]


def deadline(rounds: int) -> float:
    """Seconds a settler may live: every round's window, the lease's TTL, and a minute for Redis to come back."""
    return rounds * durable_window() + lease_ttl() + 60.0


def settle(live: Sequence[tuple[object, list]], rounds: int, detach: bool) -> None:
    """Settle `live` (publisher, history) pairs: in a forked settler when `detach` and waiting helps,
    else here. Publishers are `workers.publisher.Publisher` (journal, lease, restore_epochs)."""
    if not live:
        return
    if not detach or not hasattr(os, "fork") or not waiting_helps(live[0][0].journal.conn):
        _settle_here(live, rounds)
        return
    leases = [p.lease for p, _ in live]
    for lease in leases:
        lease.pause()  # no thread of ours is mid-call (holding a lock) when we fork
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the settler: never returns into the job's code
        code = 1
        try:
            os.setsid()  # a Ctrl-C to the stack's terminal does not cut the settle short
            timer = threading.Timer(deadline(rounds), os._exit, args=(2,))
            timer.daemon = True
            timer.start()
            for lease in leases:
                lease.renew_here()
            _settle_here(live, rounds)
            code = 0
        except BaseException:  # noqa: BLE001 (the settler's last word; it exits either way)
            log.exception("settler %d: failed", os.getpid())
        finally:
            try:
                for lease in leases:
                    lease.__exit__(None, None, None)
            except BaseException:  # noqa: BLE001 (a lease that cannot be released lapses with its TTL)
                log.exception("settler %d: could not release its leases", os.getpid())
            logging.shutdown()
            os._exit(code)
    log.info("run(s) %s: settling in process %d; the worker goes on", ", ".join(l.run_id for l in leases), pid)
    for lease in leases:
        lease.hand_over()


def _settle_here(live: Sequence[tuple[object, list]], rounds: int) -> None:
    """Once the runs' last writes are durable (a Redis crash meanwhile: written again), check each
    stream against the run's history and publish what it still lacks (see `workers.replay`)."""
    try:
        settle_all([p.journal for p, _ in live], rounds)
        if sum(p.restore_epochs(h) for p, h in live):
            settle_all([p.journal for p, _ in live], rounds)
    except LeaseLost as exc:
        log.warning("%s; what it wrote is its successor's to restore", exc)
