"""Turning a set of runs into overlay series and sweep rows for the Compare page."""

from __future__ import annotations

import statistics
from typing import Sequence

from webui.charts import Series
from webui.tables import PLACEMENT, differing_fields, label, mean_band, seed_groups
from workers.store import RunRecord

METRICS = {"train_loss": ("Train loss per epoch", "loss", False),
           "test_loss": ("Test loss per epoch", "loss", False),
           "test_acc": ("Test accuracy per epoch", "accuracy", True)}


def legend_fields(records: Sequence[RunRecord], group_seeds: bool) -> list[str]:
    ignore = (*PLACEMENT, "seed") if group_seeds else PLACEMENT
    return differing_fields([r.config for r in records], ignore=ignore)


def groups_of(records: Sequence[RunRecord], group_seeds: bool, fields: Sequence[str] = ()) -> list[list[RunRecord]]:
    """Runs grouped by seed (or one per group), ordered by the values of `fields` (the settings
    that differ), numbers numerically: legends read 0.5, 0.7, 0.9 whatever order runs were picked in."""
    groups = seed_groups(records) if group_seeds else [[r] for r in records]
    return sorted(groups, key=lambda g: [_order(g[0].config.get(f)) for f in fields])


def _order(value):
    if isinstance(value, bool) or value is None:
        return (2, str(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, (list, tuple)):
        return (1, tuple(value), "")
    return (1, (), str(value))


def series_for(groups: Sequence[list[RunRecord]], histories: dict[str, list[dict]], fields: Sequence[str],
               key: str) -> list[Series]:
    """One curve per group: a lone run as is, a seed group as mean with a min-max band."""
    out = []
    for group in groups:
        name = label(group[0].config, fields, fallback=group[0].id if len(groups) > 1 else "run")
        if len(group) == 1:
            h = histories[group[0].id]
            out.append(Series(name if fields else group[0].id, [e["epoch"] for e in h], [e.get(key) for e in h]))
        else:
            x, mean, lo, hi = mean_band([histories[r.id] for r in group], key)
            out.append(Series(f"{name} (mean of {len(group)} seeds)", x, mean, lo, hi))
    return out


def sweep_rows(groups: Sequence[list[RunRecord]], axes: Sequence[str]) -> list[dict]:
    """Per seed group: its axis values, mean best test accuracy and its spread over seeds."""
    rows = []
    for group in groups:
        accs = [r.best_metrics["test_acc"] for r in group if r.best_metrics and r.best_metrics.get("test_acc") is not None]
        if not accs:
            continue
        rows.append({**{a: group[0].config.get(a) for a in axes}, "best_test_acc": statistics.fmean(accs),
                     "acc_std": statistics.pstdev(accs) if len(accs) > 1 else 0.0})
    return rows


def parcoords_rows(records: Sequence[RunRecord], fields: Sequence[str]) -> list[dict]:
    return [{**{f: _scalar(r.config.get(f)) for f in fields}, "best_test_acc": (r.best_metrics or {}).get("test_acc")}
            for r in records if (r.best_metrics or {}).get("test_acc") is not None]


def _scalar(value):
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
