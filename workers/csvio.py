"""Runs as CSV rows and back, and restoring exported runs into a store. No torch here."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from typing import Any

from snn_core.config import RunConfig

from .store import DONE_STATUSES, RunRecord, RunStatus, RunStore

BASE_COLUMNS = ("id", "status", "config_hash", "created_at", "started_at", "finished_at", "duration", "worker",
                "device", "error", "sweep_id", "tags", "note")
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "samples_per_s")
CONFIG_COLUMNS = tuple(f"config.{f.name}" for f in fields(RunConfig))


def records_to_csv(records: list[RunRecord]) -> str:
    """One row per run. Config cells hold plain strings and numbers (lists as JSON, e.g. [10]),
    readable by any spreadsheet, and parse back to the same config on import."""
    columns = [*BASE_COLUMNS, *CONFIG_COLUMNS, *(f"last.{m}" for m in METRIC_COLUMNS), "best.test_acc"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in records:
        row: dict[str, Any] = {c: getattr(r, c) for c in BASE_COLUMNS if c not in ("status", "tags")}
        row.update(status=r.status.value, tags=";".join(r.tags))
        row.update({f"config.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in r.config.items()})
        last = r.last_metrics or {}
        row.update({f"last.{m}": last.get(m, "") for m in METRIC_COLUMNS})
        row["best.test_acc"] = (r.best_metrics or {}).get("test_acc", "")
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


_STRING_FIELDS = ("encoder", "loss", "dataset", "membrane_init", "data_dir", "device")


def _cell(name: str, text: str, line: int) -> Any:
    """A config cell: plain text for string fields, a JSON number or list for the others."""
    if name in _STRING_FIELDS and not (len(text) >= 2 and text[0] == text[-1] == '"'):
        return text
    try:
        return json.loads(text)  # numbers, lists, and strings that an older export quoted as JSON
    except json.JSONDecodeError:
        raise ValueError(f"CSV line {line}: config.{name} must be a number or a JSON list, got {text!r}") from None


def csv_to_rows(text: str) -> list[dict[str, Any]]:
    """Rows of `records_to_csv` output as record dicts like the JSON-lines export."""
    rows = []
    for n, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        missing = [c for c in ("id", "status", "created_at") if not raw.get(c)]
        if missing:
            raise ValueError(f"CSV line {n} lacks {', '.join(missing)}")
        config = {c.split(".", 1)[1]: _cell(c.split(".", 1)[1], v, n) for c, v in raw.items()
                  if c.startswith("config.") and (v or c == "config.data_dir")}
        last = {m: float(raw[f"last.{m}"]) for m in METRIC_COLUMNS if raw.get(f"last.{m}")}
        best = {"test_acc": float(raw["best.test_acc"])} if raw.get("best.test_acc") else None
        num = lambda c: float(raw[c]) if raw.get(c) else None  # noqa: E731
        rows.append({
            "id": raw["id"], "status": raw["status"], "config": config, "config_hash": raw.get("config_hash", ""),
            "created_at": float(raw["created_at"]), "started_at": num("started_at"),
            "finished_at": num("finished_at"), "worker": raw.get("worker", ""), "device": raw.get("device", ""),
            "error": raw.get("error", ""), "sweep_id": raw.get("sweep_id") or None,
            "tags": [t for t in raw.get("tags", "").split(";") if t], "note": raw.get("note", ""),
            "last_metrics": last or None, "best_metrics": best,
        })
    return rows


def restore_row(store: RunStore, row: dict[str, Any]) -> int:
    """Insert one exported run (1), or skip it when its id exists (0). Active runs come back failed."""
    if not isinstance(row, dict) or "id" not in row:
        raise ValueError(f"an imported run must be an object with an id, got {str(row)[:120]!r}")
    if store.get_run(row["id"]) is not None:
        return 0
    config = RunConfig.from_dict(row.get("config") or {})
    data = {k: v for k, v in row.items() if k not in ("epochs", "duration")}
    data["config"] = config.to_dict()
    data["config_hash"] = config.config_hash()
    record = RunRecord.from_dict(data)
    if record.status not in DONE_STATUSES:
        record.error = f"imported while {record.status.value}; submit it again to train it"
        record.status = RunStatus.FAILED
    store.put_run(record, epochs=row.get("epochs") or [])
    return 1
