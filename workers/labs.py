"""Lab launches: the course lab's studies (`snn_core.lab`) as sweeps, planned, deduplicated, grouped.

`plan_lab` says what a launch would do before it does it (runs, how many are already stored, the
time estimate); `submit_lab` queues one sweep per study (the study's field x seeds, packed where
the runs allow, across studies) and records a lab id that groups them; `lab_data` gathers a lab's runs and epoch
histories as plain dicts for `workers.lab_report`. No torch here (the web app imports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from snn_core.config import RunConfig
from snn_core.lab import DEFAULT_SEEDS, STUDIES, check_seeds, lab_configs, study_keys

from .capacity import estimate_seconds, fmt_duration
from .submission import submit_sweeps
from .store import RunStatus, RunStore

# Config fields a lab launch may change for every study (where and on what it trains, not the lab's settings).
SETTINGS = ("dataset", "data_dir", "train_limit", "test_limit", "device")
_REUSED = (RunStatus.FINISHED, RunStatus.RUNNING, RunStatus.QUEUED)  # what submit reuses instead of training


@dataclass
class LabPlan:
    keys: list[str]  # the studies, in lab order
    seeds: int
    settings: dict[str, Any]
    configs: dict[str, list[RunConfig]]  # per study, value-major then seed
    unique: int  # distinct runs over all studies (the sweep base is shared by four of them)
    stored: int  # of those, already stored finished, running or queued: reused, not retrained
    estimate_s: float  # to train the rest with the workers running now
    per_study: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> runs, stored, estimate_s

    @property
    def runs(self) -> int:
        return sum(len(c) for c in self.configs.values())

    @property
    def new(self) -> int:
        return self.unique - self.stored

    def to_dict(self) -> dict[str, Any]:
        return {"studies": self.keys, "seeds": self.seeds, "runs": self.runs, "unique": self.unique,
                "stored": self.stored, "new": self.new, "estimate_s": round(self.estimate_s, 1),
                "per_study": self.per_study}


def check_settings(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"lab setting must be one of {', '.join(SETTINGS)}, got {', '.join(unknown)}")
    return {k: v for k, v in settings.items() if v is not None}


def plan_lab(conn: redis.Redis, study: str | list[str], seeds: int = DEFAULT_SEEDS, **settings: Any) -> LabPlan:
    """What launching `study` ("all", one key, or a list of keys) would do; nothing is written."""
    keys = study_keys(study) if isinstance(study, str) else list(study)
    settings = check_settings(settings)
    check_seeds(seeds)
    configs = lab_configs(keys, seeds, **settings)  # validates every config before anything else
    store = RunStore(conn)
    stored_hashes: dict[str, bool] = {}
    for config in (c for cs in configs.values() for c in cs):
        h = config.config_hash()
        if h not in stored_hashes:
            existing = store.find_by_hash(h)
            stored_hashes[h] = existing is not None and existing.status in _REUSED
    new_by_hash: dict[str, RunConfig] = {}
    per_study = {}
    for key, cs in configs.items():
        fresh = {c.config_hash(): c for c in cs if not stored_hashes[c.config_hash()]}
        per_study[key] = {"runs": len(cs), "stored": len(cs) - len(fresh),
                          "estimate_s": round(estimate_seconds(conn, list(fresh.values()), packed=True), 1)
                          if fresh else 0.0}
        new_by_hash.update(fresh)
    estimate = estimate_seconds(conn, list(new_by_hash.values()), packed=True) if new_by_hash else 0.0
    return LabPlan(keys, seeds, settings, configs, unique=len(stored_hashes),
                   stored=sum(stored_hashes.values()), estimate_s=estimate, per_study=per_study)


def submit_lab(conn: redis.Redis, plan: LabPlan) -> str:
    """Queue the plan's studies, one sweep each (field x seed), their runs packed across studies;
    returns the new lab id. A run another study (or an earlier launch) already holds is reused."""
    sweeps = []
    for key in plan.keys:
        study = STUDIES[key]
        base = study.base.replace(**plan.settings) if plan.settings else study.base
        axes = {study.field: list(study.values), "seed": list(range(plan.seeds))}
        sweeps.append((base, axes, plan.configs[key]))  # the configs planned (and shown), not built again
    results = submit_sweeps(conn, sweeps)  # packed across studies: one pass per data shape
    return RunStore(conn).create_lab({key: r.sweep_id for key, r in zip(plan.keys, results)}, plan.seeds,
                                     plan.settings, plan.to_dict())


def lab_data(store: RunStore, lab_id: str) -> dict[str, Any]:
    """A lab's runs as plain data: {"id", "created_at", "seeds", "settings", "plan", "studies": {key: [run]}}
    with run = {"run_id", "status", "value", "seed", "config", "pack_job", "history" (epoch metric dicts)}."""
    lab = store.get_lab(lab_id)
    if lab is None:
        raise ValueError(f"lab_id not found: {lab_id!r}")
    histories: dict[str, list[dict]] = {}
    studies: dict[str, list[dict]] = {}
    for key, sweep_id in lab["studies"].items():
        study = STUDIES.get(key)
        sweep = store.get_sweep(sweep_id)
        if study is None or sweep is None:
            continue  # a study this version does not know, or a deleted sweep: leave it out
        runs = []
        for run_id in sweep["run_ids"]:
            record = store.get_run(run_id)
            if record is None:
                continue  # deleted since
            if run_id not in histories:
                histories[run_id] = store.epoch_history(run_id)
            runs.append({"run_id": run_id, "status": record.status.value, "value": record.config.get(study.field),
                         "seed": record.config.get("seed"), "config": record.config, "pack_job": record.pack_job,
                         "history": histories[run_id]})
        studies[key] = runs
    return {**lab, "studies": studies}


def lab_statuses(store: RunStore, lab_id: str) -> dict[str, int]:
    """`lab_progress` of a stored lab without reading any run's history: cheap enough to poll."""
    lab = store.get_lab(lab_id)
    if lab is None:
        raise ValueError(f"lab_id not found: {lab_id!r}")
    ids = set()
    for key, sweep_id in lab["studies"].items():
        sweep = store.get_sweep(sweep_id)
        if key in STUDIES and sweep is not None:  # what lab_data reads, so that the two counts agree
            ids.update(sweep["run_ids"])
    out: dict[str, int] = {}
    for run_id in sorted(ids):
        record = store.get_run(run_id)
        if record is not None:
            out[record.status.value] = out.get(record.status.value, 0) + 1
    return out


def lab_progress(data: dict[str, Any]) -> dict[str, int]:
    """How many of a lab's distinct runs are in each status."""
    seen: dict[str, str] = {}
    for runs in data["studies"].values():
        for run in runs:
            seen[run["run_id"]] = run["status"]
    out: dict[str, int] = {}
    for status in seen.values():
        out[status] = out.get(status, 0) + 1
    return out


def describe_plan(plan: LabPlan) -> str:
    """One line: the runs a launch makes, how many are already stored, and the time estimate."""
    studies = ", ".join(plan.keys)
    return (f"{plan.runs} runs in {len(plan.keys)} stud{'ies' if len(plan.keys) != 1 else 'y'} ({studies}; "
            f"{plan.seeds} seed{'s' if plan.seeds != 1 else ''} each), {plan.unique} distinct; {plan.stored} already "
            f"stored (reused), {plan.new} to train, about {fmt_duration(plan.estimate_s)} with the workers running now")
