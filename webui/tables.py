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


RUNS_COLUMNS = ["id", "status", "best test acc", "last test acc", "progress", "duration s", "settings", "hidden",
                "encoder/loss", "dataset", "sweep", "tags", "error", "note", "worker", "device", "created"]
# What the page shows, each with its width in pixels: with the spike-health column (HEALTH_WIDTH)
# they fit a 1400 px window (the table gets 938 px there in chromium, less its row-selection column:
# RUNS_WIDTH_BUDGET), and an id (12 hex digits) and a typical settings text fit whole. The encoder
# and loss show in the settings when they are not the baseline's; sweep and the rest are in the frame
# and in the exports.
RUNS_SHOWN = {"id": 104, "status": 68, "best test acc": 52, "progress": 52, "duration s": 44, "settings": 230,
              "hidden": 44, "tags": 60, "note": 106, "error": 56}
HEALTH_WIDTH = 64
RUNS_WIDTH_BUDGET = 938 - 40


def runs_frame(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, narrow enough for the page: outcome first, then the settings the run
    changes from the baseline in one column (as in the pickers), hidden widths, sweep, tags and
    error. Missing text is "" (never "None"); missing numbers are NaN, shown blank by `runs_style`.
    The CSV export holds every field."""
    from webui.run_labels import SHORT, changed_fields

    rows = []
    for r in records:
        progress = r.progress or {}
        settings = [f for f in changed_fields(r.config) if f != "hidden"]
        coding = [r.config.get(k) for k, base in (("encoder", "bernoulli"), ("loss", "mse")) if r.config.get(k) != base]
        rows.append({
            "id": r.id, "status": r.status.value,
            "best test acc": _acc(r.best_metrics), "last test acc": _acc(r.last_metrics),
            "progress": (progress.get("percent") or 0) / 100 if progress else None,
            "duration s": r.duration,
            "settings": " · ".join([*coding, *(f"{SHORT[f]} {_fmt(r.config[f])}".strip() for f in settings)]),
            "hidden": _fmt(r.config.get("hidden", "")), "encoder/loss": f"{r.config.get('encoder')}/{r.config.get('loss')}",
            "dataset": r.config.get("dataset", ""), "sweep": r.sweep_id or "", "tags": ", ".join(r.tags),
            "error": r.error or "", "note": r.note or "", "worker": r.worker or "", "device": r.device or "",
            "created": dt.datetime.fromtimestamp(r.created_at),
        })
    frame = pd.DataFrame(rows, columns=RUNS_COLUMNS)
    for c in ("best test acc", "last test acc", "progress", "duration s"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")  # None -> NaN, kept numeric for sorting
    return frame


MISSING = -1.0  # stands in for a missing accuracy or duration in the shown table (sorts first)


def runs_style(frame: pd.DataFrame):
    """The runs table as shown: percentages, seconds, and a dash where a value is missing.

    st.dataframe prints a null number as "None" whatever the Styler says, so missing numbers are
    shown through a stand-in value that the format turns into a dash (sorting still works)."""
    shown = frame.copy()
    for c in ("best test acc", "last test acc", "duration s"):
        shown[c] = shown[c].fillna(MISSING)
    dash = lambda fmt: (lambda v: "–" if v == MISSING else fmt.format(v))  # noqa: E731
    return shown.style.format({"best test acc": dash("{:.1%}"), "last test acc": dash("{:.1%}"),
                               "duration s": dash("{:.1f}")}, na_rep="–")


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
