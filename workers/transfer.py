"""Moving runs between stores: export (JSON lines or CSV) and import (validated, all or nothing)."""

from __future__ import annotations

import json

import redis

from .csvio import records_to_csv
from .imports import import_text
from .store import RunStore


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
        return records_to_csv(records)
    raise ValueError(f"fmt must be jsonl or csv, got {fmt!r}")


def import_runs(conn: redis.Redis, text: str, skipped: list[str] | None = None) -> int:
    """Add runs from `export_runs` output (either format); runs whose id exists are skipped.

    Every run is validated first (`workers.imports`); a bad one refuses the whole file with one
    line naming the line or row and the field, and nothing is written. Then all new runs are
    written in one transaction. The ids of runs skipped go into `skipped` when given.
    """
    return import_text(RunStore(conn), text, skipped)
