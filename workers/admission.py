"""What a worker agrees to run: Spikeboard's own job functions, with arguments of the right shape.

Anyone who can write to Redis can enqueue a job, and RQ would import and call whatever dotted
path the job names (`os.system` with the JSON serializer as readily as with pickle). A worker
therefore checks every job it dequeues *before* RQ resolves its function: the function must be
one of `ALLOWED_FUNCTIONS`, called plainly (no instance, no keyword arguments, no callbacks,
which RQ would import too, no webhooks, which it would call), with run ids matching
`RUN_ID_PATTERN` and the job id `workers.submission` gives such a job. Anything else is refused
(`refusal_reason` says why), never run, and recorded (`RunStore.refused_jobs`).

No torch here: the worker's parent process calls this before forking its work horse.
"""

from __future__ import annotations

from typing import Any

from rq.exceptions import DeserializationError

from .records import RUN_ID_PATTERN  # what `keys.new_id` makes; imports are held to it too
from .submission import JOB_FUNCTION, PACK_JOB_FUNCTION, PACK_JOB_PREFIX, max_pack_size

ALLOWED_FUNCTIONS = (JOB_FUNCTION, PACK_JOB_FUNCTION)


def check_run_id(run_id: Any) -> str:
    """`run_id` if it is a run id Spikeboard makes, else ValueError naming it."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"run id must be 12 lowercase hex digits, got {str(run_id)[:80]!r}")
    return run_id


def refusal_reason(job) -> str | None:
    """Why a worker must not run `job` (an `rq.job.Job`), or None when it is one of ours."""
    try:
        func_name, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
    except (DeserializationError, ValueError, TypeError) as exc:
        return f"its data cannot be read as a Spikeboard job ({type(exc).__name__})"
    if func_name not in ALLOWED_FUNCTIONS:
        return f"function {str(func_name)[:120]!r} is not a Spikeboard job (allowed: {', '.join(ALLOWED_FUNCTIONS)})"
    if instance is not None:
        return f"{func_name} was sent with an instance to call it on"
    if kwargs:
        return f"{func_name} takes no keyword arguments, got {sorted(map(str, kwargs))[:5]}"
    callbacks = {name: getattr(job, attr, None) for name, attr in (
        ("on_success", "_success_callback_name"), ("on_failure", "_failure_callback_name"),
        ("on_stopped", "_stopped_callback_name"))}
    named = sorted(name for name, value in callbacks.items() if value)
    if named:
        return f"{func_name} was sent with callbacks ({', '.join(named)}), which would run other code"
    if getattr(job, "webhooks", None):
        return f"{func_name} was sent with webhooks, which would make the worker call out"
    if not isinstance(args, (list, tuple)) or len(args) != 1:
        return f"{func_name} takes one argument, got {str(args)[:120]}"
    try:
        if func_name == JOB_FUNCTION:
            run_id = check_run_id(args[0])
            if job.id != run_id:
                return f"job id {job.id!r} is not its run id {run_id!r}"
        else:
            run_ids = args[0]
            if not isinstance(run_ids, list) or not 1 <= len(run_ids) <= max_pack_size():
                return f"{func_name} takes a list of 1 to {max_pack_size()} run ids, got {str(run_ids)[:120]}"
            for run_id in run_ids:
                check_run_id(run_id)
            if len(set(run_ids)) != len(run_ids):
                return f"{func_name} was given a run id twice: {run_ids}"
            if job.id != PACK_JOB_PREFIX + run_ids[0]:
                return f"job id {job.id!r} is not {PACK_JOB_PREFIX + run_ids[0]!r}"
    except ValueError as exc:
        return str(exc)
    return None


def describe(job) -> dict[str, Any]:
    """What the operator sees of a refused job (everything cut short; nothing of it is run)."""
    out: dict[str, Any] = {"job_id": str(job.id)[:120], "origin": str(getattr(job, "origin", ""))[:60]}
    for name in ("func_name", "args", "kwargs"):
        try:
            out[name] = repr(getattr(job, name))[:300]
        except Exception as exc:  # noqa: BLE001 - a job that cannot be read is described as such
            out[name] = f"<unreadable: {type(exc).__name__}>"
    return out
