"""Names for runs in pickers: what a run changes from the lab's baseline and what it reached.

    beta 0.9 · T 5 · bernoulli/mse · 84.2 % · 3 min ago · 1a2b3c4d5e6f

Pure functions over run records (no Redis, no Streamlit), so every picker names runs alike and
the text is searchable: type "T 5", "ce" or part of an id into the box.
"""

from __future__ import annotations

import time
from typing import Sequence

from snn_core.config import RunConfig
from workers.store import RunRecord, RunStatus

# Short names, in the order they are listed; encoder and loss are always shown, as "enc/loss".
SHORT = {"beta": "beta", "T": "T", "z": "z", "surrogate": "", "v_th": "V_th", "lr": "lr", "hidden": "hidden", "epochs": "epochs",
         "batch_size": "batch", "seed": "seed", "dataset": "", "membrane_init": "membrane",
         "train_limit": "train", "test_limit": "test", "test_batch_size": "test batch", "device": "device"}


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def changed_fields(config: dict, base: dict | None = None) -> list[str]:
    """Fields of `config` (a stored config dict) whose value is not the baseline's, in SHORT's order."""
    base = base if base is not None else RunConfig().to_dict()
    return [f for f in SHORT if f in config and f in base and _fmt(config[f]) != _fmt(base[f])]


def ago(seconds: float) -> str:
    """'just now', '42 s ago', '3 min ago', '5 h ago', '2 d ago'."""
    seconds = max(0.0, seconds)
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds:.0f} s ago"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return f"{seconds // 86400:.0f} d ago"


def outcome(record: RunRecord) -> str:
    """Best test accuracy once it has one ('84.2 %'), with the status while it is not finished."""
    acc = (record.best_metrics or {}).get("test_acc")
    shown = f"{100 * acc:.1f} %" if acc is not None else ""
    if record.status is RunStatus.FINISHED:
        return shown or "finished"
    if record.status is RunStatus.RUNNING and record.progress and record.progress.get("percent") is not None:
        status = f"running {record.progress['percent']:.0f} %"
    else:
        status = record.status.value
    return f"{status}, {shown}" if shown else status


def run_label(record: RunRecord, now: float | None = None) -> str:
    """The picker name of one run: changed settings · encoder/loss · outcome · age · id."""
    config = record.config
    parts = [f"{SHORT[f]} {_fmt(config[f])}".strip() for f in changed_fields(config)]
    parts.append(f"{config.get('encoder', '?')}/{config.get('loss', '?')}")
    parts.append(outcome(record))
    when = record.finished_at or record.started_at or record.created_at
    parts.append(ago((now if now is not None else time.time()) - when))
    parts.append(record.id)
    return " · ".join(parts)


def labeller(records: Sequence[RunRecord], now: float | None = None):
    """A format_func for pickers whose options are run ids: the run's label, or the id itself."""
    names = {r.id: run_label(r, now) for r in records}
    return lambda run_id: names.get(run_id, run_id)
