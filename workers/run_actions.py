"""What a user does to stored runs besides submitting one: cancel a whole sweep or lab launch at
once, resume a cancelled run from its checkpoint, add or remove tags, and find runs by text.
No torch here (the web side calls these).
"""

from __future__ import annotations

import json

import redis

from . import capacity, connection, submission
from .records import DONE_STATUSES, SWEEP_ID_PATTERN, RunRecord, RunStatus, check_tags
from .store import RunStore


def _cancel_all(conn: redis.Redis, run_ids: list[str]) -> list[str]:
    """Cancel every queued or running run of `run_ids`; returns those cancelled.

    A packed job whose members are now all cancelled leaves the queue too: a member's cancel only
    sets its flag (so the others go on), which would leave a job that trains nobody."""
    store = RunStore(conn)
    records = [r for r in (store.get_run(i) for i in dict.fromkeys(run_ids)) if r is not None]
    cancelled = []
    for record in records:
        if record.status not in DONE_STATUSES:
            submission.cancel_run(conn, record.id)
            cancelled.append(record.id)
    packs = {r.pack_job for r in records if r.pack_job and r.id in cancelled}
    for pack in packs:
        members = [r for r in store.list_runs() if r.pack_job == pack]
        if all(r.status in DONE_STATUSES for r in members):
            connection.queue(conn).remove(pack)
    return cancelled


def sweep_run_ids(store: RunStore, sweep_id: str) -> list[str]:
    """The runs of a sweep: those it created and those it reused from earlier identical runs."""
    if not isinstance(sweep_id, str) or not SWEEP_ID_PATTERN.fullmatch(sweep_id):
        raise ValueError(f"sweep_id must be 's' and 12 lowercase hex digits, got {str(sweep_id)[:80]!r}")
    sweep = store.get_sweep(sweep_id)
    if sweep is None:
        raise ValueError(f"sweep_id not found: {sweep_id!r}")
    return list(dict.fromkeys([*sweep["run_ids"], *(r.id for r in store.list_runs(sweep_id=sweep_id))]))


def cancel_sweep(conn: redis.Redis, sweep_id: str) -> list[str]:
    """Cancel every queued or running run of the sweep in one call; returns the ids cancelled."""
    return _cancel_all(conn, sweep_run_ids(RunStore(conn), sweep_id))


def cancel_lab(conn: redis.Redis, lab_id: str) -> list[str]:
    """Cancel every queued or running run of a lab launch (all its studies' sweeps)."""
    store = RunStore(conn)
    lab = store.get_lab(lab_id)  # checks the id's pattern
    if lab is None:
        raise ValueError(f"lab_id not found: {lab_id!r}")
    ids = [i for sweep_id in lab["studies"].values() for i in sweep_run_ids(store, sweep_id)]
    return _cancel_all(conn, ids)


def resume_run(conn: redis.Redis, run_id: str) -> RunRecord:
    """Queue a cancelled run again; it goes on from its last checkpoint (the start, if it had none).

    Refused (ValueError) for a run that is not cancelled, and for one whose horse still holds its
    lease (it is still stopping: a second horse could not take the run, which would sit queued).
    It trains alone even if it was a pack member, at the front of the queue (`submission.requeue_run`)."""
    store = RunStore(conn)
    record = store.require_run(run_id)
    if record.status is not RunStatus.CANCELLED:
        raise ValueError(f"run {run_id} is {record.status.value}: only a cancelled run can be resumed")
    if store.lease_holder(run_id) is not None:
        raise ValueError(f"run {run_id} is still stopping on its worker; resume it in a few seconds")
    capacity.check_device(conn, record.run_config())
    store.clear_cancel(run_id)
    store.set_status(run_id, RunStatus.QUEUED, finished_at=None, error=None)
    submission.requeue_run(conn, run_id)
    return store.require_run(run_id)


def change_tags(store: RunStore, run_ids: list[str], add: list[str] = (), remove: list[str] = ()) -> list[RunRecord]:
    """Add and remove tags on runs (order kept, no duplicates); every id is checked first."""
    records = [store.require_run(i) for i in run_ids]
    add, remove = check_tags(list(add)), set(check_tags(list(remove)))
    for record in records:
        tags = [t for t in dict.fromkeys([*record.tags, *add]) if t not in remove]
        store.set_tags(record.id, tags)
    return [store.require_run(r.id) for r in records]


def search_text(record: RunRecord) -> str:
    """What a text search looks in: id, status, sweep, tags, note, and every setting as name=value."""
    settings = " ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in record.config.items())
    return " ".join([record.id, record.status.value, record.sweep_id or "", *record.tags, record.note or "",
                     settings]).lower()


def find_runs(records: list[RunRecord], text: str) -> list[RunRecord]:
    """The runs whose `search_text` holds every word of `text` (case-insensitive), in order; all for
    empty text. "T=300 baseline" finds runs with T 300 tagged or noted baseline."""
    words = text.lower().split()
    return [r for r in records if all(w in search_text(r) for w in words)] if words else list(records)
