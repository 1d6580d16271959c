"""What the UI and the CLI call: submit, sweep, cancel, delete, export/import, estimate.

No torch here (the web container has none). Jobs go through RQ with the JSON serializer and
the job function named by its dotted path, so nothing pickled crosses Redis and the web side
never imports the training code.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from dataclasses import dataclass, fields
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig, pack_groups
from snn_core.limits import ENV_NAMES, check_data_dir, current_limits, largest_pack
from snn_core.health import StopRule

from .records import CorruptRecord
from . import estimates
from .estimates import Estimate
from .store import DONE_STATUSES, Fence, RunRecord, RunStatus, RunStore

QUEUE = "spikeboard"
JOB_FUNCTION = "workers.jobs.train_run"
PACK_JOB_FUNCTION = "workers.jobs.train_pack"
PACK_JOB_PREFIX = "pack-"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
RESULT_TTL_S = 24 * 3600  # RQ's own job hashes; the run record in our store is what lasts

_log = logging.getLogger(__name__)


class PatientRetry(Retry):
    """Retry a command for as long as Redis is away (backoff capped at 2 s), saying so in the log.

    Workers use it: an outage of any length pauses them instead of failing a run or ending the
    worker. `last_outage_end()` tells the reaper when Redis last came back (see `workers.worker`).
    """

    log_every_s = 30.0
    _last_failure = float("-inf")  # monotonic time of the latest failed attempt in this process

    def __init__(self, where: str):
        super().__init__(ExponentialBackoff(cap=2.0, base=0.05), -1)
        self.where = where

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        state = {"since": None, "logged": 0.0}

        def attempt():
            result = do()
            if state["since"] is not None:
                _log.warning("Redis at %s is back after %.1f s", self.where, time.monotonic() - state["since"])
            return result

        def failed(error, *count):
            now = time.monotonic()
            PatientRetry._last_failure = now
            if state["since"] is None:
                state["since"] = now
            if now - state["logged"] >= self.log_every_s:
                state["logged"] = now
                _log.warning("Redis at %s is unreachable (%s); waiting for it (retrying every <= 2 s)",
                             self.where, error)
            return fail(error, *count) if count else fail(error)

        return super().call_with_retry(attempt, failed, is_retryable, with_failure_count)


def last_outage_end() -> float:
    """Monotonic time of this process's latest failed Redis attempt (-inf if none failed)."""
    return PatientRetry._last_failure


def redact(url: str) -> str:
    """`url` with its password replaced by ***, for logs and messages."""
    return re.sub(r"(redis[s]?://[^:/@]*:)[^@]*@", r"\1***@", url)


def connect(url: str | None = None, *, patient: bool = False) -> redis.Redis:
    """A bytes-returning connection to `url`, else $REDIS_URL, else redis://localhost:6379/0.

    `patient` (workers): commands wait for Redis however long it is away (`PatientRetry`), so an
    outage pauses a run instead of failing it. The web side stays impatient: it says at once that
    Redis is unreachable.
    """
    url = url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    kwargs: dict[str, Any] = {}
    if patient:
        kwargs["retry"] = PatientRetry(redact(url))
    return redis.Redis.from_url(url, health_check_interval=30, **kwargs)


def env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {raw!r}")
    return value


def lease_ttl() -> float:
    """$SPIKEBOARD_LEASE_TTL: seconds a run's lease lasts unless its horse renews it (15)."""
    return env_seconds("SPIKEBOARD_LEASE_TTL", 15.0)


def queue(conn: redis.Redis, name: str = QUEUE) -> Queue:
    return Queue(name, connection=conn, serializer=JSONSerializer)


@dataclass
class SubmitResult:
    record: RunRecord
    created: bool  # False when an identical run was returned instead


@dataclass
class SweepResult:
    sweep_id: str
    results: list[SubmitResult]


def _as_config(config: RunConfig | dict) -> RunConfig:
    """The submitted config, validated (with this process's limits) and with a data_dir the
    operator allows: "" (the worker's own SPIKEBOARD_DATA_DIR) or inside SPIKEBOARD_DATA_ROOTS."""
    if isinstance(config, dict):
        config = RunConfig.from_dict(config)
    elif not isinstance(config, RunConfig):
        raise ValueError(f"config must be a RunConfig or a dict, got {type(config).__name__}")
    check_data_dir(config.data_dir)
    return config


def _enqueue(conn: redis.Redis, run_id: str, at_front: bool = False) -> None:
    queue(conn).enqueue(
        JOB_FUNCTION, run_id, job_id=run_id, job_timeout=-1, result_ttl=RESULT_TTL_S,
        failure_ttl=RESULT_TTL_S, description=f"train run {run_id}", at_front=at_front,
    )


def _stop_rule(rule: StopRule | dict | None) -> dict | None:
    """A stop rule as stored in the run record (validated); None for none."""
    if rule is None:
        return None
    return (rule if isinstance(rule, StopRule) else StopRule.from_dict(rule)).to_dict()


def _register(store: RunStore, config: RunConfig | dict, force: bool, sweep_id: str | None, tags,
              stop_rule: dict | None = None) -> SubmitResult:
    """The run record for `config`: an identical finished, running or queued run unless `force`."""
    config = _as_config(config)  # validates: nothing reaches Redis for a bad config
    record, created = store.create_or_reuse(config, sweep_id=sweep_id, tags=tags, stop_rule=stop_rule, force=force)
    return SubmitResult(record, created)  # the hash is claimed atomically: concurrent submits make one run


def submit_run(conn: redis.Redis, config: RunConfig | dict, *, force: bool = False, sweep_id: str | None = None,
               tags=(), stop_rule: StopRule | dict | None = None) -> SubmitResult:
    """Queue one run; an identical finished, running or queued run is returned unless `force`.

    `stop_rule` (`snn_core.health.StopRule`) ends the run early when its spike health says so; it
    is kept in the run record, not the config, so it never changes the config hash.
    """
    check_device(conn, _as_config(config))  # refuses a device no live worker has
    result = _register(RunStore(conn), config, force, sweep_id, tags, _stop_rule(stop_rule))
    if result.created:
        _enqueue(conn, result.record.id)
    return result


def max_pack_size() -> int:
    raw = os.environ.get("SPIKEBOARD_MAX_PACK", "32")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SPIKEBOARD_MAX_PACK must be an integer >= 1, got {raw!r}")
    return int(raw)


def _enqueue_pack(conn: redis.Redis, run_ids: list[str]) -> str:
    """One job that trains `run_ids` as one packed model; each record names the pack job."""
    job_id = PACK_JOB_PREFIX + run_ids[0]
    store = RunStore(conn)
    for run_id in run_ids:
        store.set_fields(run_id, pack_job=job_id)
    queue(conn).enqueue(
        PACK_JOB_FUNCTION, run_ids, job_id=job_id, job_timeout=-1, result_ttl=RESULT_TTL_S,
        failure_ttl=RESULT_TTL_S, description=f"train {len(run_ids)} runs packed",
    )
    return job_id


def sweep_configs(base: RunConfig, axes: dict[str, list]) -> list[RunConfig]:
    """The cartesian product of one or two axes over `base`; bad values raise before anything is queued."""
    known = {f.name for f in fields(RunConfig)}
    if not isinstance(axes, dict) or not 1 <= len(axes) <= 2:
        raise ValueError(f"axes must name one or two fields, got {str(axes)[:200]!r}")
    for name, values in axes.items():
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"sweep field must be a RunConfig field, got {str(name)[:80]!r}")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"sweep values for {name} must be a non-empty list, got {str(values)[:200]!r}")
    if not isinstance(base, RunConfig):
        raise ValueError(f"base must be a RunConfig, got {type(base).__name__}")
    size = 1
    for values in axes.values():
        size *= len(values)
    most = current_limits().max_sweep
    if size > most:
        shape = " x ".join(f"{len(v)} {n}" for n, v in axes.items())
        raise ValueError(f"sweep would make {size} runs ({shape}), more than {most} ({ENV_NAMES['max_sweep']})")
    names = list(axes)
    configs: list[RunConfig] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        changes = dict(zip(names, combo))
        try:
            configs.append(_as_config(base.replace(**changes)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"sweep value {str(changes)[:200]} is invalid: {exc}") from None
    hashes = [c.config_hash() for c in configs]
    if len(set(hashes)) != len(hashes):
        raise ValueError(f"sweep axes repeat a value: {axes!r}")
    return configs


def _packs_that_fit(configs: list[RunConfig]) -> list[list[int]]:
    """`pack_groups` with each pack cut down until its memory estimate is within the limit."""
    limits = current_limits()
    out = []
    for group in pack_groups(configs, max_pack_size()):
        step = largest_pack(configs[group[0]], limits, len(group))
        out += [group[i : i + step] for i in range(0, len(group), step)]
    return out


def submit_sweep(conn: redis.Redis, base: RunConfig, axes: dict[str, list], *, force: bool = False,
                 packed: bool = True, stop_rule: StopRule | dict | None = None) -> SweepResult:
    """Queue a sweep. With `packed`, runs that differ only in beta, V_th, z, loss, lr or seed train as
    one packed job (one pass over the data for all of them); each keeps its own record and stream."""
    return submit_sweeps(conn, [(base, axes)], force=force, packed=packed, stop_rule=stop_rule)[0]


def submit_sweeps(conn: redis.Redis, sweeps: list[tuple[RunConfig, dict[str, list]]], *, force: bool = False,
                  packed: bool = True, stop_rule: StopRule | dict | None = None) -> list[SweepResult]:
    """Queue several sweeps (base, axes) at once: each gets its own sweep record, and their new runs
    are packed together across sweeps (the lab's T = 5 studies train as one pass over the data, not
    three). Every config is validated before anything is stored; the costliest job is queued first."""
    planned = [(base, axes, sweep_configs(base, axes)) for base, axes in sweeps]
    for config in {c.device: c for _, _, cs in planned for c in cs}.values():
        check_device(conn, config)  # refuses a device no live worker has, before anything is stored
    rule = _stop_rule(stop_rule)  # a bad rule fails here, before anything is stored
    store = RunStore(conn)
    out, new = [], []
    for base, axes, configs in planned:
        sweep_id = store.create_sweep(base, {k: list(v) for k, v in axes.items()})
        results = [_register(store, c, force, sweep_id, (), rule) for c in configs]
        store.set_sweep_runs(sweep_id, [r.record.id for r in results])
        new += [r.record for r in results if r.created]
        out.append(SweepResult(sweep_id, results))
    _enqueue_new(conn, new, packed)
    return out


def _enqueue_new(conn: redis.Redis, new: list[RunRecord], packed: bool) -> None:
    """Queue just-registered runs, packable ones as packed jobs, in `estimates.job_order`."""
    configs = [r.run_config() for r in new]
    groups = _packs_that_fit(configs) if packed else [[i] for i in range(len(new))]
    for j in estimates.job_order([[configs[i] for i in g] for g in groups]):
        if len(groups[j]) == 1:
            _enqueue(conn, new[groups[j][0]].id)
        else:
            _enqueue_pack(conn, [new[i].id for i in groups[j]])


def requeue_run(conn: redis.Redis, run_id: str, fence: Fence | None = None) -> None:
    """Put an interrupted or orphaned run back on the queue (in front); it resumes from its checkpoint.

    `fence`: the claim on the run's lease of whoever requeues it (LeaseLost if it was lost)."""
    store = RunStore(conn)
    store.set_status(run_id, RunStatus.QUEUED, fence=fence, pack_job="")  # from now on it trains alone
    # A dead worker's entry for this job would later be "cleaned up" by RQ as abandoned,
    # marking the new job (same id) failed; drop it now, and its entry among the failed.
    registry = StartedJobRegistry(QUEUE, connection=conn, serializer=JSONSerializer)
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        if job_id == run_id:
            conn.zrem(registry.key, f"{job_id}:{execution_id}")
    conn.zrem(FailedJobRegistry(QUEUE, connection=conn, serializer=JSONSerializer).key, run_id)
    _enqueue(conn, run_id, at_front=True)


def cancel_run(conn: redis.Redis, run_id: str) -> RunRecord:
    """Cancel a queued run (removed from the queue) or a running one (stopped, metrics kept)."""
    store = RunStore(conn)
    record = store.require_run(run_id)
    if record.status in DONE_STATUSES:
        return record
    store.request_cancel(run_id)  # first, so a worker that dequeues it now stops at once
    if record.pack_job:
        pass  # one member of a packed job: the flag freezes it at its next batch, the others go on
    elif record.status in (RunStatus.QUEUED, RunStatus.INTERRUPTED):
        queue(conn).remove(run_id)
    else:
        try:
            send_stop_job_command(conn, run_id, serializer=JSONSerializer)
        except (NoSuchJobError, InvalidJobOperation):
            pass  # not executing on a worker right now: the flag alone stops it when it starts
    store.set_status(run_id, RunStatus.CANCELLED, finished_at=time.time())
    return store.require_run(run_id)


def delete_run(conn: redis.Redis, run_id: str) -> None:
    """Cancel the run if it is active, then remove it, its metrics and its RQ job."""
    try:
        record = RunStore(conn).require_run(run_id)
    except CorruptRecord:
        record = None  # unreadable (not written by Spikeboard): nothing to cancel, still deletable
    if record is not None and record.status not in DONE_STATUSES:
        cancel_run(conn, run_id)
    try:
        Job.fetch(run_id, connection=conn, serializer=JSONSerializer).delete()
    except NoSuchJobError:
        pass  # RQ already expired its job hash
    RunStore(conn).delete_run(run_id)


# -- export / import -----------------------------------------------------------------

def export_runs(conn: redis.Redis, fmt: str = "jsonl", run_ids: list[str] | None = None,
                skipped: dict[str, str] | None = None) -> str:
    """All runs (or those of `run_ids`), newest first: JSON lines (records with epoch history) or
    CSV (one flat row per run).

    A record that cannot be read back (not written by Spikeboard) is left out, not fatal: its id
    and the reason go into `skipped` when given.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"fmt must be jsonl or csv, got {fmt!r}")
    store = RunStore(conn)
    records = store.list_runs()
    skipped = {} if skipped is None else skipped
    skipped.update(store.unreadable)
    if run_ids is not None:
        wanted = set(run_ids)
        records = [r for r in records if r.id in wanted]
    if fmt == "jsonl":
        lines = []
        for r in records:
            try:
                epochs = store.epoch_history(r.id)
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                skipped[r.id] = f"its metrics stream cannot be read: {type(exc).__name__}: {str(exc)[:120]}"
                continue
            lines.append(json.dumps({**r.to_dict(), "epochs": epochs}, sort_keys=True))
        return "".join(line + "\n" for line in lines)
    if fmt == "csv":
        from .csvio import records_to_csv

        return records_to_csv(records)
    raise ValueError(f"fmt must be jsonl or csv, got {fmt!r}")


def import_runs(conn: redis.Redis, text: str, skipped: list[str] | None = None) -> int:
    """Add runs from `export_runs` output (either format); runs whose id exists are skipped.

    Every run is validated first (`workers.imports`); a bad one refuses the whole file with one
    line naming the line or row and the field, and nothing is written. Then all new runs are
    written in one transaction. The ids of runs skipped go into `skipped` when given.
    """
    from .imports import import_text

    return import_text(RunStore(conn), text, skipped)


# -- estimates -----------------------------------------------------------------------

ESTIMATE_RUNS = 300  # the newest runs an estimate learns from (reading a few hundred records is quick)


def estimate(conn: redis.Redis, configs: list[RunConfig], packed: bool = False) -> Estimate:
    """How long the live workers (at least one) take to train `configs`: seconds, a range and
    what it rests on (`workers.estimates`: the data the runs use and what this machine measured).

    With `packed`, runs that `submit_sweep` would pack together cost one run plus a measured
    fraction of it for every further member."""
    records = RunStore(conn).list_runs(limit=ESTIMATE_RUNS)
    workers = Worker.count(connection=conn, queue=queue(conn))
    return estimates.estimate(configs, records, workers=workers, packed=packed, max_pack=max_pack_size())


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
