"""What the workers can take: how long runs would train (the estimate), which workers are live,
and which devices they offer.

No torch here (the web container has none).
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Worker

from snn_core.config import RunConfig

from . import estimates
from .connection import queue
from .estimates import Estimate
from .packing import max_pack_size, plan_jobs
from .store import RunStore

ESTIMATE_RUNS = 300  # the newest runs an estimate learns from (reading a few hundred records is quick)


def estimate(conn: redis.Redis, configs: list[RunConfig], packed: bool = False) -> Estimate:
    """How long the live workers (at least one) take to train `configs`: seconds, a range and
    what it rests on (`workers.estimates`: the data the runs use and what this machine measured).

    The jobs timed are `packing.plan_jobs`' (what `submit_sweep` queues): with `packed`, runs it
    packs together cost one run plus a measured fraction of it for every further member."""
    records = RunStore(conn).list_runs(limit=ESTIMATE_RUNS)
    workers = Worker.count(connection=conn, queue=queue(conn))
    return estimates.estimate(configs, records, workers=workers, packed=packed, max_pack=max_pack_size(),
                              jobs=plan_jobs(list(configs), packed))


def fmt_duration(seconds: float | None) -> str:
    """'45s', '3m 05s', '2h 07m' (to the second, then the minute); '-' for None (not known yet)."""
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def estimate_seconds(conn: redis.Redis, configs: list[RunConfig], packed: bool = False) -> float:
    """`estimate(...).seconds`."""
    return estimate(conn, configs, packed).seconds


def live_workers(conn: redis.Redis) -> list[dict[str, Any]]:
    """Workers registered on the queue: name, state, current run id, and the devices it offers."""
    offers = RunStore(conn).offered_devices()
    out = []
    for worker in Worker.all(connection=conn, queue=queue(conn)):
        out.append({"name": worker.name, "state": worker.get_state(), "run_id": worker.get_current_job_id(),
                    "devices": offers.get(worker.name, [])})
    return out


def offered_devices(conn: redis.Redis) -> dict[str, list[str]]:
    """{worker name: config devices it trains on} for the live workers (each renews its offer)."""
    return RunStore(conn).offered_devices()


def check_device(conn: redis.Redis, config: RunConfig) -> str | None:
    """Refuse a run whose device no live worker offers (ValueError naming the field and value).

    RQ hands a run to whichever worker is free, so a cuda run on a queue of CPU-only workers would
    fail seconds later on one of them: it is refused here instead. When no worker is live at all
    the run is accepted (one that has the device may start later) and the note returned says so;
    None when some live worker offers the device, or for "auto"."""
    device = config.device.value
    if device == "auto":
        return None
    offers = offered_devices(conn)
    if not offers:
        return f"No worker is running now: the run waits in the queue until a worker that offers {device} starts."
    if any(device in devices for devices in offers.values()):
        return None
    have = sorted({d for devices in offers.values() for d in devices})
    raise ValueError(f"device must be one a live worker offers ({', '.join(have)}), got {device!r}: "
                     f"no running worker has {device}; start one that does, or pick auto")
