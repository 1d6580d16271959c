"""Shaping stored runs into tables and comparison groups (pandas, no Redis, no torch)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

import pandas as pd

from workers.store import RunRecord

KEY_PARAMS = ("encoder", "loss", "T", "beta", "v_th", "z", "lr", "epochs", "batch_size", "hidden", "seed", "dataset")
# Fields that say where a run executes, or how much data it used, rather than the model: the
# compare legend leaves them out unless nothing else differs.
PLACEMENT = ("data_dir", "device")


def _acc(metrics: dict | None) -> float | None:
    return None if not metrics else metrics.get("test_acc")


def _fmt(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: status, key hyperparameters, accuracy, progress and where it ran."""
    rows = []
    for r in records:
        progress = r.progress or {}
        row = {"id": r.id, "status": r.status.value,
               "created": dt.datetime.fromtimestamp(r.created_at)}
        row.update({p: _fmt(r.config.get(p)) for p in KEY_PARAMS})
        row.update({
            "best test acc": _acc(r.best_metrics), "last test acc": _acc(r.last_metrics),
            "progress": (progress.get("percent") or 0) / 100 if progress else None,
            "duration s": r.duration, "worker": r.worker, "device": r.device,
            "sweep": r.sweep_id or "", "tags": ", ".join(r.tags), "note": r.note, "error": r.error,
        })
        rows.append(row)
    # Outcome first, so the accuracy is visible without scrolling the table sideways.
    columns = ["id", "status", "best test acc", "last test acc", "progress", "duration s", *KEY_PARAMS,
               "worker", "device", "created", "sweep", "tags", "note", "error"]
    return pd.DataFrame(rows, columns=columns)


def differing_fields(configs: Sequence[dict], ignore: Sequence[str] = ()) -> list[str]:
    """Config fields whose values are not the same across all configs, in field order."""
    if not configs:
        return []
    keys = [k for k in configs[0] if k not in ignore]
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def label(config: dict, fields: Sequence[str], fallback: str) -> str:
    return ", ".join(f"{f}={_fmt(config.get(f))}" for f in fields) or fallback


def seed_groups(records: Sequence[RunRecord]) -> list[list[RunRecord]]:
    """Runs whose configs are equal except for the seed (and placement), in first-seen order."""
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        key = repr(sorted((k, repr(v)) for k, v in r.config.items() if k not in ("seed", *PLACEMENT)))
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def mean_band(histories: Sequence[list[dict]], key: str) -> tuple[list, list, list, list]:
    """(epochs, mean, min, max) of metric `key` over the epochs all histories reached."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for e in history:
            if e.get(key) is not None:
                by_epoch.setdefault(int(e["epoch"]), []).append(float(e[key]))
    epochs = sorted(k for k, v in by_epoch.items() if len(v) == len(histories))
    return (epochs, [sum(by_epoch[e]) / len(by_epoch[e]) for e in epochs],
            [min(by_epoch[e]) for e in epochs], [max(by_epoch[e]) for e in epochs])


def compare_frame(records: Sequence[RunRecord], fields: Sequence[str]) -> pd.DataFrame:
    rows = []
    for r in records:
        best, last = r.best_metrics or {}, r.last_metrics or {}
        rows.append({"id": r.id, "status": r.status.value, **{f: _fmt(r.config.get(f)) for f in fields},
                     "best test acc": best.get("test_acc"), "best epoch": best.get("epoch"),
                     "last test acc": last.get("test_acc"), "last test loss": last.get("test_loss"),
                     "last train loss": last.get("train_loss"), "epochs done": last.get("epoch")})
    return pd.DataFrame(rows)
