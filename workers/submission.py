"""Submitting runs and sweeps, and what happens to a run after: requeue, cancel, delete.

No torch here (the web container has none). A job function is named by its dotted path, so the
web side never imports the training code. Every config is validated (with this process's limits)
before anything reaches Redis.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, fields

import redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from snn_core.config import RunConfig
from snn_core.health import StopRule
from snn_core.limits import ENV_NAMES, check_data_dir, current_limits

from .capacity import check_device, estimate
from .connection import QUEUE, queue
from .estimates import Estimate
from .packing import max_pack_size, plan_jobs
from .records import CorruptRecord
from .store import DONE_STATUSES, Fence, RunRecord, RunStatus, RunStore

# max_pack_size and plan_jobs are packing's, named here too: what submitting packs is part of its answer.
__all__ = ["JOB_FUNCTION", "PACK_JOB_FUNCTION", "PACK_JOB_PREFIX", "SubmitResult", "SweepResult", "submit_run",
           "submit_sweep", "submit_sweeps", "sweep_configs", "SweepPlan", "plan_sweep", "max_pack_size", "plan_jobs",
           "requeue_run", "cancel_run", "delete_run"]

JOB_FUNCTION = "workers.jobs.train_run"
PACK_JOB_FUNCTION = "workers.jobs.train_pack"
PACK_JOB_PREFIX = "pack-"
RESULT_TTL_S = 24 * 3600  # RQ's own job hashes; the run record in our store is what lasts


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


def _check_axes(base: RunConfig, axes: dict[str, list]) -> None:
    """One or two RunConfig fields, each with a non-empty list, making at most the operator's sweep size."""
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


def _check_distinct(configs: list[RunConfig], axes: dict[str, list]) -> None:
    hashes = [c.config_hash() for c in configs]
    if len(set(hashes)) != len(hashes):
        raise ValueError(f"sweep axes repeat a value: {axes!r}")


def sweep_configs(base: RunConfig, axes: dict[str, list]) -> list[RunConfig]:
    """The cartesian product of one or two axes over `base`; bad values raise before anything is queued."""
    _check_axes(base, axes)
    names = list(axes)
    configs: list[RunConfig] = []
    for combo in itertools.product(*(axes[n] for n in names)):
        changes = dict(zip(names, combo))
        try:
            configs.append(_as_config(base.replace(**changes)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"sweep value {str(changes)[:200]} is invalid: {exc}") from None
    _check_distinct(configs, axes)
    return configs


def _planned_configs(base: RunConfig, axes: dict[str, list], configs: list[RunConfig]) -> list[RunConfig]:
    """A sweep's configs as its caller planned them (the lab's), held to what `sweep_configs` checks."""
    _check_axes(base, axes)
    size = 1
    for values in axes.values():
        size *= len(values)
    if len(configs) != size:
        raise ValueError(f"a sweep over {axes!r} has {size} runs, got {len(configs)} planned configs")
    configs = [_as_config(c) for c in configs]
    _check_distinct(configs, axes)
    return configs


@dataclass
class SweepPlan:
    """What `submit_sweep(conn, base, axes)` would queue, before anything is: its runs, its jobs
    (`plan_jobs`, indices into `configs`, in queue order) and how long they take (`capacity.estimate`)."""

    configs: list[RunConfig]
    jobs: list[list[int]]
    estimate: Estimate


def plan_sweep(conn: redis.Redis, base: RunConfig, axes: dict[str, list], packed: bool = True) -> SweepPlan:
    """The sweep's configs (validated: ValueError as `sweep_configs`), jobs and time estimate."""
    configs = sweep_configs(base, axes)
    return SweepPlan(configs, plan_jobs(configs, packed), estimate(conn, configs, packed=packed))


def submit_sweep(conn: redis.Redis, base: RunConfig, axes: dict[str, list], *, force: bool = False,
                 packed: bool = True, stop_rule: StopRule | dict | None = None, tags=()) -> SweepResult:
    """Queue a sweep. With `packed`, runs that differ only in beta, V_th, z, loss, lr or seed train as
    one packed job (one pass over the data for all of them); each keeps its own record and stream.
    `tags` go on the runs it creates (a reused run keeps its own)."""
    return submit_sweeps(conn, [(base, axes)], force=force, packed=packed, stop_rule=stop_rule, tags=tags)[0]


def submit_sweeps(conn: redis.Redis, sweeps: list[tuple], *, force: bool = False,
                  packed: bool = True, stop_rule: StopRule | dict | None = None, tags=()) -> list[SweepResult]:
    """Queue several sweeps at once: each gets its own sweep record, and their new runs are packed
    together across sweeps (the lab's T = 5 studies train as one pass over the data, not three).

    A sweep is (base, axes), or (base, axes, configs) with the configs its caller already planned
    (`labs.plan_lab`), submitted as they are instead of built again. Every config is validated
    before anything is stored; the jobs are `packing.plan_jobs`', costliest first."""
    planned = [(s[0], s[1], _planned_configs(*s) if len(s) == 3 else sweep_configs(*s)) for s in sweeps]
    for config in {c.device: c for _, _, cs in planned for c in cs}.values():
        check_device(conn, config)  # refuses a device no live worker has, before anything is stored
    rule = _stop_rule(stop_rule)  # a bad rule fails here, before anything is stored
    store = RunStore(conn)
    out, new = [], []
    for base, axes, configs in planned:
        sweep_id = store.create_sweep(base, {k: list(v) for k, v in axes.items()})
        results = [_register(store, c, force, sweep_id, tags, rule) for c in configs]
        store.set_sweep_runs(sweep_id, [r.record.id for r in results])
        new += [r.record for r in results if r.created]
        out.append(SweepResult(sweep_id, results))
    enqueue_new(conn, new, packed)
    return out


def enqueue_new(conn: redis.Redis, new: list[RunRecord], packed: bool) -> None:
    """Queue just-registered runs as `plan_jobs` plans them (packed jobs where they pack)."""
    for group in plan_jobs([r.run_config() for r in new], packed):
        if len(group) == 1:
            _enqueue(conn, new[group[0]].id)
        else:
            _enqueue_pack(conn, [new[i].id for i in group])


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
